"""The built-in twin: a seeded synthetic catalogue in WebShop's product schema, no files.

Products are drawn from 20 product types over WebShop's five categories (4 each), with an
invented brand, a title built from the type's nouns and some of its attributes, bullet
points, a description, options (colour, size, ... values from the type's pools), a
single price or a price range, and Amazon-like ``query`` and ``product_category``
fields. About 40% of the products carry an instruction; goals follow WebShop's
synthetic rule on them (one goal per combination of option values, a price bound drawn
from the first four multiples of 10 above the price), and are shuffled with the seed so
``shuffle_index`` splits them into test and train pools as for the real data. The same
seed and size give the same catalogue on every machine.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
from types import MappingProxyType
from typing import Any

from sdar.envs.webshop.catalogue import Catalogue, product_prices

# category -> [(query, breadcrumb tail, nouns, attributes, {option: values}, (low, high))]
_TYPES: dict[str, list[tuple[str, str, str, str, dict[str, str], tuple[int, int]]]] = {
    "fashion": [
        ("men's t-shirts", "Men › Clothing › Shirts › T-Shirts", "T-Shirt Tee Shirt",
         "machine wash|short sleeve|cotton spandex|relaxed fit|crew neck|quick drying",
         {"color": "black|white|navy blue|heather grey|olive green",
          "size": "small|medium|large|x-large|xx-large"},
         (9, 40)),
        ("women's running shoes", "Women › Shoes › Athletic › Running", "Running Shoes Sneakers",
         "rubber sole|non slip|memory foam|lace up|breathable mesh|arch support",
         {"color": "black|pink|white|purple|light blue", "size": "6|7|7.5|8|8.5|9|10"},
         (25, 120)),
        ("women's leggings", "Women › Clothing › Active › Leggings", "Leggings Yoga Pants",
         "high waist|tummy control|butt lifting|moisture wicking|four way stretch",
         {"color": "black|wine red|charcoal|navy", "size": "x-small|small|medium|large|x-large"},
         (12, 45)),
        ("men's wallets", "Men › Accessories › Wallets", "Wallet Card Holder",
         "genuine leather|rfid blocking|slim design|gift box",
         {"color": "brown|black|tan"}, (10, 60)),
    ],
    "beauty": [
        ("shampoo", "Hair Care › Shampoo & Conditioner › Shampoos", "Shampoo Hair Wash",
         "sulfate free|paraben free|tea tree|argan oil|dry hair|natural ingredients",
         {"size": "8 fl oz|16 fl oz|32 fl oz"}, (6, 35)),
        ("face moisturizers", "Skin Care › Face › Creams & Moisturizers", "Face Moisturizer Cream",
         "hyaluronic acid|fragrance free|sensitive skin|anti aging|long lasting",
         {"size": "1.7 ounce|3.4 ounce"}, (10, 70)),
        ("toothbrushes", "Oral Care › Toothbrushes & Accessories", "Toothbrush Brush Heads",
         "soft bristles|oral hygiene|travel size|easy use|bpa free",
         {"color": "blue|green|pink|white", "item package quantity": "2|4|8"}, (4, 30)),
        ("nail polish", "Foot, Hand & Nail Care › Nail Polish", "Nail Polish Lacquer",
         "long lasting|quick drying|non toxic|high gloss",
         {"color": "red|coral|nude|royal blue|lavender"}, (5, 25)),
    ],
    "electronics": [
        ("bluetooth headphones", "Headphones › Over-Ear Headphones", "Headphones Headset",
         "noise cancelling|wireless bluetooth|long battery life|hands free|fast charging",
         {"color": "black|white|silver|rose gold"}, (20, 200)),
        ("usb c cables", "Computer Accessories › Cables › USB Cables", "Cable Charger Cord",
         "fast charging|high speed|nylon braided|usb type c|plug and play",
         {"size": "3 ft|6 ft|10 ft", "color": "black|white|red"}, (5, 30)),
        ("wireless chargers", "Cell Phones & Accessories › Chargers › Wireless Chargers",
         "Wireless Charger Charging Pad", "fast charging|wall mounted|easy install|non slip",
         {"color": "black|white"}, (12, 60)),
        ("security cameras", "Camera & Photo › Surveillance › Dome Cameras", "Security Camera",
         "night vision|motion detection|two way audio|high definition|easy install",
         {"style": "indoor|outdoor", "size": "1 pack|2 pack|4 pack"}, (25, 180)),
    ],
    "garden": [
        ("throw pillow covers", "Bedding › Decorative Pillows › Throw Pillow Covers",
         "Pillow Covers Cushion Case", "double sided|machine washable|hidden zipper|living room",
         {"color": "beige|grey|navy|mustard yellow", "size": '16" x 16"|18" x 18"|20" x 20"'},
         (8, 40)),
        ("blackout curtains", "Window Treatments › Curtains & Drapes › Panels",
         "Curtains Drapes Panels",
         "thermal insulated|noise reducing|living room|easy install|machine washable",
         {"color": "grey|ivory|navy blue|teal", "size": '52" x 63"|52" x 84"|52" x 95"'},
         (18, 70)),
        ("desk lamps", "Lighting & Ceiling Fans › Lamps & Shades › Desk Lamps", "Desk Lamp Light",
         "dimmable|eye caring|usb port|touch control|easy assemble",
         {"color": "black|white|silver"}, (15, 80)),
        ("bath towels", "Bath › Towels › Bath Towels", "Bath Towels Towel Set",
         "highly absorbent|quick drying|cotton|soft",
         {"color": "white|grey|aqua|beige", "size": "2 piece|4 piece|6 piece"}, (15, 60)),
    ],
    "grocery": [
        ("herbal tea", "Beverages › Tea › Herbal", "Herbal Tea Bags",
         "caffeine free|non gmo|usda organic|gluten free",
         {"flavor name": "chamomile|peppermint|ginger|hibiscus",
          "size": "20 count|40 count|100 count"},
         (5, 30)),
        ("snack bars", "Snacks & Sweets › Snack Bars › Protein", "Protein Bars Snack Bars",
         "gluten free|high protein|low sugar|individually wrapped|plant based",
         {"flavor name": "peanut butter|chocolate chip|almond|berry", "size": "12 count|24 count"},
         (12, 50)),
        ("coffee beans", "Beverages › Coffee › Whole Coffee Beans",
         "Coffee Beans Whole Bean Coffee",
         "medium roast|dark roast|fair trade|usda organic|single origin",
         {"size": "12 ounce|2 pound|5 pound"}, (9, 60)),
        ("almonds", "Snack Foods › Nuts & Seeds › Almonds", "Almonds Nuts Snack",
         "gluten free|non gmo|resealable bag|low carb|kosher",
         {"flavor name": "sea salt|smokehouse|honey roasted|unsalted", "size": "6 ounce|16 ounce"},
         (6, 40)),
    ],
}  # fmt: skip
_ROOT = {
    "fashion": "Clothing, Shoes & Jewelry",
    "beauty": "Beauty & Personal Care",
    "electronics": "Electronics",
    "garden": "Home & Kitchen",
    "grocery": "Grocery & Gourmet Food",
}
_SYLLABLES = ("ka", "lo", "mi", "ra", "ve", "zu", "no", "ti", "sa", "be", "qu", "ax", "or", "el")
PRICE_BOUNDS = [10.0 * i for i in range(1, 100)]


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _product(rng: random.Random, index: int, category: str, kind: tuple) -> dict[str, Any]:
    query, tail, nouns, attrs, option_pools, (low, high) = kind
    attributes = rng.sample(attrs.split("|"), rng.randint(2, min(4, len(attrs.split("|")))))
    options = {}
    for name, pool in option_pools.items():
        if rng.random() < 0.8:
            values = pool.split("|")
            options[name] = sorted(
                rng.sample(values, rng.randint(1, min(4, len(values)))), key=values.index
            )
    noun = rng.choice(nouns.split(" "))
    traits = " ".join(a.title() for a in attributes[:2])
    title = f"{_brand(rng)} {traits} {nouns}, {noun} for Everyday Use"
    start = round(rng.uniform(low, high), 2)
    pricing = [start] if rng.random() < 0.85 else [start, round(start * rng.uniform(1.1, 1.6), 2)]
    bullets = [f"{a.capitalize()}: made to last and easy to care for." for a in attributes]
    asin = "B0T" + hashlib.sha256(f"{index}:{title}".encode()).hexdigest()[:7].upper()
    return {
        "asin": asin,
        "name": title,
        "Title": title,
        "full_description": f"This {noun.lower()} is {', '.join(attributes)}.",
        "Description": f"This {noun.lower()} is {', '.join(attributes)}.",
        "small_description": bullets,
        "BulletPoints": bullets,
        "pricing": pricing,
        "Price": f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}",
        "options": options,
        "Attributes": attributes,
        "category": category,
        "query": query,
        "product_category": f"{_ROOT[category]} › {tail}",
        "Rating": "N.A.",
        "Reviews": [],
    }


def _goals(
    rng: random.Random, products: list[dict[str, Any]], prices: dict[str, float]
) -> list[dict]:
    goals = []
    for product in products:
        if rng.random() >= 0.4:
            continue
        wanted = rng.sample(product["Attributes"], rng.randint(1, len(product["Attributes"])))
        instruction = f"i am looking for {' and '.join(wanted)} {product['query']}"
        above = [p for p in PRICE_BOUNDS if p > prices[product["asin"]]][:4]
        upper = max(rng.sample(above, 2)) if len(above) >= 2 else 1000000
        price_text = f", and price lower than {upper:.2f} dollars" if upper != 1000000 else ""
        names = sorted(product["options"])
        for combo in itertools.product(*(product["options"][n] for n in names)):
            chosen = dict(zip(names, combo, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in chosen.items())
            goals.append(
                {
                    "asin": product["asin"],
                    "instruction_text": instruction
                    + (f" with {option_text}" if option_text else "")
                    + price_text,
                    "attributes": wanted,
                    "goal_options": chosen,
                    "price_upper": upper,
                    **{k: product[k] for k in ("category", "query", "product_category")},
                    "name": product["Title"],
                }
            )
    order = list(range(len(goals)))
    rng.shuffle(order)
    for position, i in enumerate(order):
        goals[i]["shuffle_index"] = position
    return sorted(goals, key=lambda g: g["shuffle_index"])


@functools.lru_cache(maxsize=4)
def twin_catalogue(n_products: int = 1000, seed: int = 0) -> Catalogue:
    """The twin catalogue of ``n_products`` products made with ``seed`` (cached)."""
    rng = random.Random(f"webshop-twin:{seed}")
    kinds = [(c, k) for c, ks in _TYPES.items() for k in ks]
    products = [_product(rng, i, *kinds[i % len(kinds)]) for i in range(n_products)]
    rng.shuffle(products)
    prices = product_prices(products, seed)
    goals = _goals(rng, products, prices)
    blob = json.dumps(products, sort_keys=True).encode()
    return Catalogue(
        products=MappingProxyType({p["asin"]: p for p in products}),
        prices=MappingProxyType(prices),
        goals=tuple(goals),
        fingerprint="twin-" + hashlib.sha256(blob).hexdigest()[:16],
        source=f"built-in twin ({n_products} products, seed {seed})",
    )
