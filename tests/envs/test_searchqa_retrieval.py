"""Search-QA retrievers: BM25 (cached index), dense (fake encoder), the HTTP client against
our server on 127.0.0.1 (up, down, slow), recall@k, and oracle success = recall@3 on the
shared dev questions (skipped when ../shared/data/searchqa is absent)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sdar.cli import main
from sdar.envs.base import EnvError
from sdar.envs.play import play
from sdar.envs.searchqa import retrievers
from sdar.envs.searchqa.data import Passage, Question, load_questions
from sdar.envs.searchqa.recall import retrieval_recall
from sdar.envs.searchqa.remote import HttpRetriever, make_server
from sdar.envs.searchqa.retrievers import BM25Retriever, DenseRetriever
from sdar.envs.searchqa.twin import make_world

SHARED = Path(
    os.environ.get(
        "SEARCHQA_SHARED", Path(__file__).resolve().parents[2] / "../shared/data/searchqa"
    )
)
needs_shared = pytest.mark.skipif(
    not (SHARED / "corpus.jsonl").is_file(), reason=f"shared Search-QA data not found at {SHARED}"
)
ANCHOR = {1: 0.188, 3: 0.425, 5: 0.510}  # bm25s 0.3.16 on the 400 dev questions (issue 13)

CORPUS = [
    Passage("0", '"Dune"\nDune is a science fiction novel by Frank Herbert.'),
    Passage("1", '"Frank Herbert"\nFrank Herbert was an American writer born in Tacoma.'),
    Passage("2", '"Tacoma"\nTacoma is a city in Washington.'),
    Passage("3", '"Foundation"\nFoundation is a novel by Isaac Asimov.'),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("searchqa-index"))


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        "".join(json.dumps({"id": p.id, "contents": p.contents}) + "\n" for p in CORPUS)
    )
    return path


@pytest.fixture
def serve():
    """Start our server around a retriever on 127.0.0.1 (a free port); stop it after."""
    servers = []

    def start(retriever):
        server = make_server(retriever, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/retrieve"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- BM25 ---------------------------------------------------------------------------------


def test_bm25_ranks_and_caps_topk():
    bm25 = BM25Retriever(CORPUS)
    hits = bm25.search(["novel by Isaac Asimov", "Tacoma Washington city"], 2)
    assert [h[0].id for h in hits] == ["3", "2"] and all(len(h) == 2 for h in hits)
    assert hits[0][0].score > hits[0][1].score
    assert len(bm25.search(["Dune"], 50)[0]) == len(CORPUS)
    assert bm25.search([], 3) == []
    with pytest.raises(ValueError):
        bm25.search(["Dune"], 0)


def test_bm25_index_is_cached_by_corpus_hash(corpus_file, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = BM25Retriever.from_file(corpus_file, cache)
    (folder,) = cache.iterdir()
    assert (folder / "params.index.json").is_file()
    monkeypatch.setattr(retrievers.BM25Retriever, "__init__", _no_reindex(BM25Retriever.__init__))
    second = BM25Retriever.from_file(corpus_file, cache)
    assert second.search(["Frank Herbert writer"], 3) == first.search(["Frank Herbert writer"], 3)
    corpus_file.write_text(
        corpus_file.read_text() + json.dumps({"id": "9", "contents": "x"}) + "\n"
    )
    monkeypatch.undo()
    BM25Retriever.from_file(corpus_file, cache)
    assert len(list(cache.iterdir())) == 2  # a changed corpus gets its own index


def _no_reindex(init):
    def checked(self, passages, index=None):
        assert index is not None, "the cached index should have been loaded"
        init(self, passages, index)

    return checked


# --- dense --------------------------------------------------------------------------------


class FakeEncoder:
    """Bag of words over a fixed vocabulary: enough to check the plumbing."""

    VOCAB = ("dune", "herbert", "tacoma", "asimov", "novel", "city")

    def encode(self, texts, **kwargs):
        return [[float(w in t.lower()) + 1e-3 for w in self.VOCAB] for t in texts]


def test_dense_retriever_interface_with_a_fake_encoder():
    pytest.importorskip("faiss")
    dense = DenseRetriever(CORPUS, FakeEncoder())
    hits = dense.search(["asimov novel", "tacoma city"], 1)
    assert [h[0].id for h in hits] == ["3", "2"]
    assert len(dense.search(["dune"], 9)[0]) == len(CORPUS)


def test_dense_embeddings_are_cached(corpus_file, tmp_path):
    pytest.importorskip("faiss")
    first = DenseRetriever.from_file(corpus_file, tmp_path, encoder=FakeEncoder())
    (folder,) = tmp_path.glob("dense-*")
    assert (folder / "embeddings.npy").is_file()

    class Refuses(FakeEncoder):
        def encode(self, texts, **kwargs):
            assert all(t.startswith("query: ") for t in texts), "passages were re-encoded"
            return super().encode(texts)

    second = DenseRetriever.from_file(corpus_file, tmp_path, encoder=Refuses())
    assert second.search(["herbert"], 2) == first.search(["herbert"], 2)


def test_dense_without_its_packages_is_one_clear_error(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name in ("sentence_transformers", "faiss"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(EnvError, match=r"sdar\[dense\]"):
        DenseRetriever(CORPUS)
    with pytest.raises(EnvError, match=r"sdar\[dense\]"):
        retrievers.load_encoder("intfloat/e5-base-v2")


# --- HTTP client and server ---------------------------------------------------------------


def test_client_and_server_round_trip(serve):
    local = BM25Retriever(CORPUS)
    url = serve(local)
    client = HttpRetriever(url, timeout=5, retries=1)
    queries = ["Who wrote Dune?", "city in Washington"]
    assert client.search(queries, 2) == local.search(queries, 2)
    body = json.dumps({"queries": ["Dune"], "topk": 1}).encode()  # return_scores off
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, body), timeout=5) as response:
        assert json.loads(response.read()) == {
            "result": [[{"id": "0", "contents": CORPUS[0].contents}]]
        }


def test_client_reports_bad_requests_at_once(serve):
    url = serve(BM25Retriever(CORPUS))
    with pytest.raises(EnvError, match="HTTP 404"):
        HttpRetriever(url.replace("/retrieve", "/nothing"), timeout=5).search(["Dune"], 1)


def test_server_down_is_one_clear_error_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpRetriever(f"http://127.0.0.1:{port}/retrieve", timeout=1, retries=3, backoff=0.01)
    start = time.perf_counter()
    with pytest.raises(EnvError, match="down or too slow: 3 tries"):
        client.search(["Dune"], 3)
    assert time.perf_counter() - start < 5


class SlowRetriever:
    """Blocks until released (bounded), so the client's timeout fires first."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def search(self, queries, topk):
        self.calls += 1
        self.release.wait(timeout=5)
        return [[] for _ in queries]


def test_slow_server_times_out_with_bounded_retries(serve):
    slow = SlowRetriever()
    client = HttpRetriever(serve(slow), timeout=0.2, retries=2, backoff=0.01)
    start = time.perf_counter()
    try:
        with pytest.raises(EnvError, match="down or too slow: 2 tries with a 0.2 s timeout"):
            client.search(["Dune"], 3)
    finally:
        slow.release.set()
    assert time.perf_counter() - start < 3


def test_env_over_the_http_retriever_plays_the_twin(serve, tmp_path):
    url = serve(BM25Retriever(make_world(0).passages))
    summary = play("searchqa", "oracle", 8, options={"retriever": "http", "url": url})
    assert summary["success"] == 1.0


def test_serve_retriever_command(corpus_file, tmp_path):
    code = "import sys; from sdar.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["serve-retriever", "--corpus", str(corpus_file), "--port", "0"]
    args += ["--index-dir", str(tmp_path / "idx")]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the socket is bound
        url = line.split(" on ")[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        hits = HttpRetriever(url, timeout=5, retries=1).search(["Isaac Asimov"], 1)
        assert hits[0][0].id == "3"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- recall@k ---------------------------------------------------------------------------


def test_recall_counts_whole_word_answers_per_source():
    questions = [
        Question("a", "Who wrote Dune?", ("Frank Herbert",), "nq"),
        Question("b", "Where was the author of Dune born?", ("Tacoma",), "hotpotqa"),
        Question("c", "Who wrote Foundation?", ("Asimo",), "nq"),  # a word part: no hit
    ]
    result = retrieval_recall(BM25Retriever(CORPUS), questions, 1)
    assert result == {
        "recall": 1 / 3,
        "per_data_source": {"hotpotqa": 0.0, "nq": 0.5},
        "questions": 3,
        "topk": 1,
    }


@needs_shared
@pytest.mark.parametrize("k", [1, 3, 5])
def test_eval_retriever_json_matches_the_anchor(k, index_dir, capsys):
    args = ["eval-retriever", "--corpus", str(SHARED / "corpus.jsonl")]
    args += ["--questions", str(SHARED / "dev.jsonl"), "--topk", str(k), "--json"]
    assert main([*args, "--index-dir", index_dir]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"recall", "per_data_source", "questions"} <= set(result)
    assert result["questions"] == 400
    assert set(result["per_data_source"]) == {"hotpotqa", "2wikimultihopqa", "musique"}
    assert abs(result["recall"] - ANCHOR[k]) <= 0.01


@needs_shared
def test_oracle_success_equals_recall_at_3(index_dir):
    corpus, dev = SHARED / "corpus.jsonl", SHARED / "dev.jsonl"
    options = {"corpus": str(corpus), "questions": str(dev), "index_dir": index_dir}
    played = play("searchqa", "oracle", 400, options=options)
    bm25 = BM25Retriever.from_file(corpus, index_dir)
    recall = retrieval_recall(bm25, load_questions(dev), 3)
    assert played["success"] == recall["recall"]
    assert played["per_task_type"] == recall["per_data_source"]


@needs_shared
def test_play_command_on_the_shared_data(index_dir, capsys):
    args = ["play", "searchqa", "--agent", "random", "--episodes", "20", "--json"]
    args += ["--corpus", str(SHARED / "corpus.jsonl"), "--questions", str(SHARED / "dev.jsonl")]
    assert main([*args, "--options", json.dumps({"index_dir": index_dir})]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 20 and result["agent"] == "random"
    assert set(result["per_task_type"]) <= {"hotpotqa", "2wikimultihopqa", "musique"}
