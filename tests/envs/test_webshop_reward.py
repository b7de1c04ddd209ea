"""WebShop's purchase score and its text matching, with values worked out by hand."""

from __future__ import annotations

import random

import pytest

from sdar.envs.webshop.matching import (
    lcs_length,
    normalize_color,
    title_nouns,
    token_set_ratio,
)
from sdar.envs.webshop.reward import goal_option_texts, option_matches, purchase_score

GOAL = {
    "asin": "B0SHIRT001",
    "attributes": ["machine wash", "short sleeve"],
    "goal_options": {"color": "black", "size": "large"},
    "price_upper": 30.0,
    "query": "men's t-shirts",
    "product_category": "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
    "name": "Acme Cotton Crew T-Shirt",
}


def shirt(**changes):
    product = {
        "asin": "B0SHIRT001",
        "Title": "Acme Cotton Crew T-Shirt",
        "name": "Acme Cotton Crew T-Shirt",
        "Attributes": ["machine wash", "short sleeve"],
        "BulletPoints": ["Soft cotton"],
        "Description": "A plain tee.",
        "query": "men's t-shirts",
        "product_category": "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
    }
    return {**product, **changes}


def score(product, chosen, price=20.0, goal=GOAL):
    return purchase_score(product, goal, price, chosen)[0]


# 2 attributes + 2 options + 1 price = 5 points; score = r_type * points / 5.
def test_exact_purchase_scores_one():
    assert score(shirt(), {"color": "black", "size": "large"}) == 1.0


def test_wrong_colour_loses_one_option_point():
    # "navy blue" normalises to "blue", which does not match "black": 4 / 5.
    assert score(shirt(), {"color": "navy blue", "size": "large"}) == pytest.approx(0.8)


def test_over_budget_loses_the_price_point():
    assert score(shirt(), {"color": "black", "size": "large"}, price=35.0) == pytest.approx(0.8)
    assert score(shirt(), {"color": "black", "size": "large"}, price=30.0) == 1.0  # bound is <=


def test_missing_options_lose_their_points():
    assert score(shirt(), {"color": "black"}) == pytest.approx(0.8)
    assert score(shirt(), {}) == pytest.approx(0.6)


def test_missing_attribute_unless_the_text_has_it():
    bare = shirt(Attributes=["machine wash"])
    assert score(bare, {"color": "black", "size": "large"}) == pytest.approx(0.8)
    in_bullets = shirt(Attributes=["machine wash"], BulletPoints=["Short sleeve, soft"])
    assert score(in_bullets, {"color": "black", "size": "large"}) == 1.0


def test_wrong_type_scores_zero():
    # No query, no shared breadcrumb level, no shared title word: r_type = 0.
    mug = shirt(
        Title="Zen Ceramic Coffee Mug",
        name="Zen Ceramic Coffee Mug",
        query="coffee mugs",
        product_category="Home & Kitchen › Kitchen & Dining › Mugs",
    )
    assert score(mug, {"color": "black", "size": "large"}) == 0.0


def test_weak_title_overlap_halves_or_cuts_the_score():
    # Goal nouns: acme, cotton, crew, shirt (4). One shared word: 0.25 > 0.2 -> r_type 1.
    other = shirt(query="polo shirts", product_category="Sports › Golf", name="Polo Shirt Navy")
    assert score(other, {"color": "black", "size": "large"}) == 1.0
    # Five nouns, one shared: 0.2 is not above 0.2 -> r_type 0.5.
    goal = {**GOAL, "name": "Acme Cotton Crew Tee Shirt"}
    assert score(other, {"color": "black", "size": "large"}, goal=goal) == pytest.approx(0.5)
    # Eleven nouns, one shared: under 0.1 -> r_type 0.1.
    long = {**GOAL, "name": "Acme Cotton Crew Tee Shirt Summer Beach Party Gift Pack Box"}
    assert score(other, {"color": "black", "size": "large"}, goal=long) == pytest.approx(0.1)


def test_synthetic_goal_options_are_matched_as_name_value_pairs():
    # WebShop hands the (name, value) pairs to the matcher; colour words equal to a value
    # normalise, anything else is matched as the text of the pair.
    assert goal_option_texts({"color": "black", "size": "x-large"}) == [
        "black",
        "('size', 'x-large')",
    ]
    # "standard" holds the colour word "tan", so the bought value becomes "tan" and no
    # longer matches the pair: an exact purchase misses this option (why 93.4% < 100%).
    assert option_matches(["standard"], {"size": "standard"}) == 0
    assert option_matches(["standard"], ["standard"]) == 1  # human goals list values


def test_human_goal_options_are_fuzzy():
    assert option_matches(["powder snow", "xl"], ["cool powder snow", "XL"]) == 2
    # {8, ounce} vs {16, ounce}: best is "ounce" vs "ounce 8", 200*5/12 = 83.3, not > 85.
    assert option_matches(["8 ounce"], ["16 ounce"]) == 0


def test_token_set_ratio_by_hand():
    assert token_set_ratio("essential oil", "essential oils") == 96  # 200*13/27 = 96.3
    assert token_set_ratio("tea tree", "tree tea oil") == 100  # one set holds the other
    assert token_set_ratio("blue", "black") == 44  # LCS "bl": 200*2/9
    assert token_set_ratio("", "black") == 0
    assert token_set_ratio("café", "caf") == 100  # U+0080-U+00FF are dropped first
    # {pack, of, 12} vs {pack, of, 6}: "of pack" vs "of pack 6" gives 200*7/16 = 87.5.
    assert token_set_ratio("pack of 12", "pack of 6") == 88


def test_lcs_matches_dynamic_programming():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abcx ") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abcy ") for _ in range(rng.randint(0, 70)))
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, ca in enumerate(a):
            for j, cb in enumerate(b):
                table[i + 1][j + 1] = (
                    table[i][j] + 1 if ca == cb else max(table[i][j + 1], table[i + 1][j])
                )
        assert lcs_length(a, b) == table[-1][-1]


def test_colour_and_noun_helpers():
    assert normalize_color("dark navy") == "dark"  # first colour word in WebShop's order
    assert normalize_color("b17-army green") == "green"
    assert title_nouns("The Ultimate Guide to 4K TVs, Pack of 2") == [
        "ultimate",
        "guide",
        "tvs",
        "pack",
    ]
