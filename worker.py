"""rq worker entry: load the configuration and heavy resources once, then fork a work horse per job."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler

from intake.config import Config, load_config
from intake.runtime.db import forget_inherited_connections
from intake.runtime.supervisor import supervise
from intake.runtime.warmup import warm_worker_imports

log = logging.getLogger("guichet.worker")
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)


class QuietScheduler(RQScheduler):
    """rq's scheduler process (due retries), stopping without a traceback when Redis goes away (the worker starts
    a new one once it is back) and when its worker died (no orphan left running)."""

    def start(self) -> Any:
        """Remember the worker's pid before forking."""
        self._worker_pid = os.getpid()
        return super().start()

    def heartbeat(self) -> None:
        """rq's heartbeat; an orphan stops instead."""
        if os.getppid() != getattr(self, "_worker_pid", os.getppid()):
            self._stop_requested = True
            return
        super().heartbeat()

    def work(self) -> None:
        """rq's loop, ended quietly by a Redis outage."""
        try:
            super().work()
        except REDIS_ERRORS as exc:
            self.log.warning("scheduler stopped: Redis away (%s)", exc)


class GuichetWorker(Worker):
    """rq's forking worker, made to stop within seconds and to die quietly when Redis goes away.

    - No pubsub thread: with redis-py 8, rq 3 joins it for up to 60 s on stop, and Guichet sends no rq commands.
    - A stop request while a job runs gives the job `stop_grace` seconds, then SIGTERM to the horse (the job
      hands its message back as pending, see jobs.WorkerStopping), then SIGKILL.
    """

    stop_grace = 2.0
    stopped_by_signal = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._main_pid = os.getpid()  # a forked work horse has another pid (see request_stop)

    def subscribe(self) -> None:
        """No pubsub (see the class docstring)."""

    def unsubscribe(self) -> None:
        """No pubsub (see the class docstring)."""

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm stop, bounded: the running job gets `stop_grace` seconds to finish."""
        if os.getpid() != self._main_pid:
            # A work horse just forked, before rq gave it its own handlers: it dies as rq's horses do on SIGTERM
            # (default action), instead of running the parent's shutdown (which cannot join the parent's children).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.stopped_by_signal = True
        if self.horse_pid:
            timer = threading.Timer(self.stop_grace, self._stop_horse, args=(self.horse_pid,))
            timer.daemon = True
            timer.start()
        try:
            super().request_stop(signum, frame)
        except REDIS_ERRORS:  # Redis away: nothing to record there, stop anyway
            self._stop_requested = True

    def _stop_horse(self, pid: int) -> None:
        for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
            if self.horse_pid != pid:
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            time.sleep(pause)

    def setup_work_horse_signals(self) -> None:
        """In the horse: ignore Ctrl-C (the parent decides), turn SIGTERM into WorkerStopping."""
        from intake.runtime.jobs import WorkerStopping

        def stopping(signum: int, frame: FrameType | None) -> None:
            raise WorkerStopping()

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, stopping)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "%H:%M:%S",
        log_format: str = "%(asctime)s %(message)s",
    ) -> None:
        """rq's own, with the quiet scheduler."""
        self.scheduler = QuietScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level or "INFO",
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def teardown(self) -> None:
        """rq's teardown, silent when Redis is away (the worker's key expires by itself)."""
        try:
            super().teardown()
        except REDIS_ERRORS as exc:
            log.info("worker %s: not unregistered (Redis away: %s)", self.name, exc)


class _OncePerOutage(logging.Filter):
    """rq logs each failed reconnection, with a traceback when a job was running: keep one line per outage."""

    def __init__(self) -> None:
        super().__init__()
        self.last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        about_redis = isinstance(exc, REDIS_ERRORS) or "could not connect to Redis" in str(record.msg)
        if not about_redis:
            return True
        if record.exc_info:
            record.msg = f"{record.msg} ({type(exc).__name__}: {exc})"
            record.exc_info, record.exc_text = None, None
        now = time.monotonic()
        if now - self.last < 300:
            return False
        self.last = now
        return True


def _horse_killed(res: Any) -> Any:
    """rq's hook when a horse dies (killed, crashed, out of memory): its message goes back, or is parked. A batch
    goes back whole, each message then queued alone: the one that kills its horse is parked without the others."""
    from intake.runtime.housekeeping import after_horse_died
    from intake.runtime.queue import enqueue_process, get_queue

    def handler(job: Any, retpid: int, ret_val: int, rusage: Any) -> None:
        if (
            job.func_name not in ("intake.runtime.jobs.process_message", "intake.runtime.jobs.process_messages")
            or not job.args
        ):
            return
        ids = [int(i) for i in job.args[0]] if isinstance(job.args[0], list | tuple) else [int(job.args[0])]
        alone = len(ids) == 1
        statuses = {}
        for raw_id in ids:
            try:
                statuses[raw_id] = after_horse_died(
                    res.factory, raw_id, max_attempts=res.config.worker.max_attempts, count_try=alone
                )
            except Exception as exc:  # database away: the sweep parks or retries it later
                log.warning("message %s: horse died, claim left to the sweep (%s)", raw_id, exc)
                return
        if alone:
            if statuses[ids[0]] == "failed":
                job.retries_left = 0  # parked for an agent: rq must not try it again
            return
        job.retries_left = 0  # the batch is split: each message it held is tried alone
        for raw_id, status in statuses.items():
            if status == "pending":
                try:
                    enqueue_process(get_queue(job.connection), raw_id, timeout=res.config.worker.job_timeout)
                except Exception as exc:  # Redis away: the sweeper queues it once Redis is back
                    log.warning("message %s: not queued alone (%s), left to the sweep", raw_id, exc)

    return handler


def _stop_scheduler(worker: GuichetWorker) -> None:
    """The rq scheduler process of a run that ended early (a stop during start-up skips rq's teardown)."""
    process = getattr(worker.scheduler, "_process", None)
    if process is None or not process.is_alive():
        return
    process.terminate()
    process.join(1)
    if process.is_alive():
        process.kill()
        process.join(2)


def _wait_for_horse(worker: GuichetWorker, *, timeout: float) -> None:
    """After rq gave up on Redis mid-job, let the horse finish (it only needs the database) before going on."""
    pid = worker.horse_pid
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.2)
    if pid:
        worker._stop_horse(pid)


def run_worker(config: Config, *, burst: bool = False, scheduler: bool = True) -> None:
    """Run an rq worker on Guichet's queues with the shared ticker, IDLE watchers and database upkeep; a Redis
    outage ends the rq loop, never the process: it starts again once Redis answers."""
    _serve(config, _prepare(config), burst=burst, scheduler=scheduler)


def _prepare(config: Config) -> Any:
    """Logging, then the resources loaded and warmed once (what every work horse forked later inherits)."""
    from intake.pseudonyms import install_log_pseudonyms
    from intake.runtime import jobs
    from intake.runtime.resources import build_resources

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID` prints where a stuck worker is
    # mail-parser logs every MIME part it does not handle; citizens' mail is full of them.
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    logging.getLogger("rq.worker").addFilter(_OncePerOutage())
    install_log_pseudonyms(config)  # no citizen's e-mail or phone in the workers' log lines (RGPD)
    res = build_resources(config)
    res.warm_up()
    # What the jobs and the threads import on first use, imported now: never again per forked horse, and never
    # while a thread holds a module's import lock at a fork (the horse would wait for it forever).
    warm_worker_imports()
    res.freeze()  # this process only forks from now on (work horses, or the workers of run_workers)
    jobs.set_resources(res)
    # A forked work horse (or worker, see run_workers) must not reuse the parent's database connections.
    os.register_at_fork(after_in_child=forget_inherited_connections)
    return res


def _serve(config: Config, res: Any, *, burst: bool, scheduler: bool) -> None:
    """The rq loop of one worker over the loaded resources, with its threads; returns once stopped."""
    from intake.runtime.outage import Outage
    from intake.runtime.queue import redis_connection, worker_queues
    from intake.runtime.scheduler import Housekeeper, IdleWatcher, Ticker

    redis = redis_connection(config)
    # rq's own client: rq lengthens its socket timeout for blocking pops, which must not meet a pooled connection
    # of the threads' client, created with redis-py's 5 s default.
    rq_redis = redis_connection(config)
    threads: list[Any] = []
    if scheduler and not burst:
        threads.append(Ticker(redis, config))
        threads.append(Housekeeper(res, every=config.worker.sweep_interval))
        threads.extend(IdleWatcher(redis, config, mb.name) for mb in config.mailboxes if mb.idle)
        for thread in threads:
            thread.start()
    stopping = threading.Event()
    outage = Outage(log, "Redis")
    current: list[GuichetWorker] = []

    main_pid = os.getpid()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # a scheduler or horse just forked, before rq gave it its own handlers
            os._exit(128 + signum)
        # Between rq runs, or while rq starts (before it installs its own handlers): that run stops at the top
        # of its loop, before it waits for a job. No exception here: it could land anywhere (a fork hook...).
        stopping.set()
        if current:
            current[0].stopped_by_signal = True
            current[0]._stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stopping.is_set():
            worker = None
            try:
                worker = GuichetWorker(
                    worker_queues(rq_redis), connection=rq_redis, work_horse_killed_handler=_horse_killed(res)
                )
                current.append(worker)
                if stopping.is_set():  # asked to stop while it was being made
                    break
                worker.work(burst=burst, with_scheduler=True)
            except StopRequested:
                pass
            except REDIS_ERRORS as exc:
                outage.failed(exc)
            finally:
                current.clear()
                signal.signal(signal.SIGTERM, on_signal)
                signal.signal(signal.SIGINT, on_signal)
                if worker is not None:
                    _stop_scheduler(worker)
            if burst or stopping.is_set() or (worker is not None and worker.stopped_by_signal):
                break
            if worker is not None:
                _wait_for_horse(worker, timeout=config.worker.job_timeout)
            # rq's loop ended on its own: Redis went away. Wait until it answers, then start a fresh rq worker.
            while not stopping.is_set():
                try:
                    rq_redis.ping()
                    outage.ok()
                    break
                except REDIS_ERRORS as exc:
                    stopping.wait(outage.failed(exc))
    finally:
        for thread in threads:
            thread.shutdown()


def run_workers(config: Config, *, processes: int, burst: bool = False, scheduler: bool = True) -> None:
    """`processes` rq workers that share one load: the configuration, the category model and the address reference
    are loaded and warmed once here (spaCy's French tokenizer alone costs seconds of CPU per process), then each
    worker is forked from this process and supervised (intake/runtime/supervisor.py: forked again when it ends on
    its own, SIGTERM or Ctrl-C passed on once); returns when all have stopped."""
    if processes <= 1:
        run_worker(config, burst=burst, scheduler=scheduler)
        return
    res = _prepare(config)
    supervise(processes, lambda slot: _serve(config, res, burst=burst, scheduler=scheduler), respawn=not burst)


if __name__ == "__main__":
    run_worker(load_config())
