"""rq worker entry: load the configuration and heavy resources once, then fork a work horse per job."""

from __future__ import annotations

import logging
import os

from intake.config import Config, load_config


def run_worker(config: Config, *, burst: bool = False, scheduler: bool = True) -> None:
    """Run one rq worker on Guichet's queue, with the shared ticker and IDLE watchers."""
    from rq import Worker

    from intake.runtime import jobs
    from intake.runtime.queue import get_queue, redis_connection
    from intake.runtime.resources import build_resources
    from intake.runtime.scheduler import IdleWatcher, Ticker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # mail-parser logs every MIME part it does not handle; citizens' mail is full of them.
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    res = build_resources(config)
    res.warm_up()
    jobs.set_resources(res)
    # A forked work horse must not reuse the parent's database connections.
    os.register_at_fork(after_in_child=lambda: res.engine.dispose(close=False))
    redis = redis_connection(config)
    threads: list[Ticker | IdleWatcher] = []
    if scheduler and not burst:
        threads.append(Ticker(redis, config))
        threads.extend(IdleWatcher(redis, config, mb.name) for mb in config.mailboxes if mb.idle)
        for thread in threads:
            thread.start()
    try:
        Worker([get_queue(redis)], connection=redis).work(burst=burst, with_scheduler=True)
    finally:
        for thread in threads:
            thread.stop.set()


if __name__ == "__main__":
    run_worker(load_config())
