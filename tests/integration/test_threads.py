"""The daemon is one thread (ARCHITECTURE.md 1): /proc/<pid>/status must read `Threads: 1`
while hundreds of requests are in flight, including ones waiting on the (slowed) Fiber node and on
Postgres, where a resolver or worker thread would show up."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import fl


class Sampler:
    """Reads the daemon's thread count every few milliseconds in the background."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(fl.thread_count(self.pid))
            time.sleep(0.005)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


def test_threads_one_while_tips_in_flight(db, sim, start_daemon):
    d = start_daemon()
    assert fl.thread_count(d.pid) == 1
    sim.set_latency(400)
    barrier = threading.Barrier(200)

    def create(i):
        with fl.Client(d.base, db.app_id, db.secret, timeout=30) as c:
            barrier.wait(30)
            return c.result("tip.create", fl.tip_params(postId=f"load-{i}"))

    try:
        with Sampler(d.pid) as s, ThreadPoolExecutor(200) as pool:
            results = list(pool.map(create, range(200)))
    finally:
        sim.set_latency(0)
    assert len({r["tipId"] for r in results}) == 200
    assert len(s.samples) > 20, s.samples
    assert set(s.samples) == {1}, f"thread counts seen: {sorted(set(s.samples))}"
    assert d.alive()
    db.check_invariants()


def test_threads_one_under_h2_streams(db, start_daemon):
    d = start_daemon()
    with fl.Client(d.base, db.app_id, db.secret) as c, Sampler(d.pid) as s:
        for _ in range(3):
            reqs = [fl.signed_call(c, "health.ping", {}, id=i) if i % 2 else
                    fl.signed_call(c, "tip.status",
                                   {"tipId": "00000000-0000-4000-8000-%012d" % i}, id=i)
                    for i in range(300)]
            answers = fl.h2_burst(d.base, reqs)
            for i, (status, j) in enumerate(answers):
                assert status == 200 and j["id"] == i, j
                assert ("result" in j) if i % 2 else (j["error"]["code"] == -32004), j
    assert len(s.samples) > 5, s.samples
    assert set(s.samples) == {1}, f"thread counts seen: {sorted(set(s.samples))}"
