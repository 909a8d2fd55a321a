"""Ray as gozero's cluster engine: connecting with token authentication, and running tasks.

``cluster`` names where work runs, as ``--cluster`` does on the command line:

- ``"local"``: a Ray instance started on this machine for this command, bound to
  127.0.0.1 only, dashboard off, token authentication on;
- ``"auto"``: the Ray cluster this machine joined with ``ray start`` (its token from
  ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``);
- ``"HOST:PORT"`` (or ``ray://HOST:PORT``): that cluster's head.

`ClusterSession` opens (and closes what it opened), `ClusterExecutor` has the
``concurrent.futures`` shape (``submit`` returns a `Future`) so code written for a thread
pool spreads over the cluster unchanged (`gozero match --cluster`), and `run_tasks` maps a
function over items and yields results as they finish (``cluster=None`` runs them here, one
after the other) -- the one call a sweep or a batch of matches needs. Results come back to
the caller: the driver stays the only writer of files and databases. Files a task needs
and a node may lack (no shared filesystem) travel through the object store: `ship_file` on
the driver, `fetch_shipped` on the node (cached there by content hash).

Ray is an optional extra (``pip install 'gozero[ray]'``); without it every entry point
raises `ClusterError` naming that command.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'gozero[ray]'"
NAMESPACE = "gozero"
TOKEN_ENV = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


class ClusterError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or its authentication is not set up."""


def require_ray():
    """The ``ray`` module, or a `ClusterError` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


def check_cluster_name(cluster: str) -> str:
    """``cluster`` stripped, or a `ValueError` for an empty or malformed name."""
    name = (cluster or "").strip()
    if not name:
        raise ValueError("a cluster is 'local', 'auto' or a Ray address HOST:PORT")
    if name not in ("local", "auto") and ":" not in name:
        raise ValueError(f"cluster {cluster!r}: expected 'local', 'auto' or a Ray address HOST:PORT")
    return name


def _default_token_path() -> str:
    return os.path.join(os.path.expanduser("~"), ".ray", "auth_token")


def _has_token() -> bool:
    return any(os.environ.get(k) for k in TOKEN_ENV) or os.path.isfile(_default_token_path())


def _loopback_only() -> None:
    """Make Ray advertise and bind 127.0.0.1 (its single-machine mode), before Ray starts."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import sys

    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # ray imported already: the flag was read at import
        constants.ENABLE_RAY_CLUSTER = False


def _token_mode() -> None:
    """``RAY_AUTH_MODE=token`` for this process and the Ray processes it starts; Ray caches
    its configuration at import, so refresh that cache too."""
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # a Ray without token authentication
        raise ClusterError("this Ray has no token authentication (Ray >= 2.52 has): "
                           f"{INSTALL_HINT}") from None


class ClusterSession:
    """A connection to a Ray cluster; `close` shuts down only what this session started.

    ``num_cpus``/``num_gpus`` size a ``"local"`` instance (default: the machine's). A Ray
    session already open in this process (a test's ``ray.init``) is used as it is."""

    def __init__(self, cluster: str, num_cpus: int | None = None, num_gpus: int | None = None):
        self.name = check_cluster_name(cluster)
        ray = require_ray()
        self.owned = False
        self.dashboard_url = None
        if ray.is_initialized():
            return
        mode = os.environ.get("RAY_AUTH_MODE", "").lower()
        if mode and mode != "token":
            raise ClusterError(f"RAY_AUTH_MODE={mode}: gozero runs Ray with token authentication only "
                               "(unset it or set RAY_AUTH_MODE=token; see docs/cluster.md)")
        try:
            if self.name == "local":
                _loopback_only()
                if not _has_token():  # a token for this instance alone, never written to disk
                    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
                _token_mode()
                ctx = ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                         namespace=NAMESPACE,
                         log_to_driver=False, configure_logging=False)
            else:
                if not _has_token():
                    raise ClusterError("no Ray authentication token: copy the cluster's token (`ray get-auth-token` "
                                       f"on the head) to {_default_token_path()} or set RAY_AUTH_TOKEN")
                _token_mode()
                ctx = ray.init(address=self.name, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
        except ClusterError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; all mean "no cluster"
            raise ClusterError(f"cannot start or reach Ray cluster {self.name!r}: {type(exc).__name__}: {exc}") from exc
        self.owned = True
        self.dashboard_url = getattr(ctx, "dashboard_url", None) or None

    def close(self) -> None:
        if self.owned:
            require_ray().shutdown()
            self.owned = False

    def __enter__(self) -> ClusterSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cluster_cpus() -> float:
    """CPUs of the live nodes of the connected cluster."""
    return float(require_ray().cluster_resources().get("CPU", 0.0))


def _call(fn: Callable, args: tuple, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


class ClusterExecutor:
    """``concurrent.futures``-style executor whose tasks run as Ray tasks.

    A task whose worker or node dies is run again up to ``max_retries`` times; an exception
    raised by ``fn`` itself is not retried and surfaces from ``Future.result()``."""

    def __init__(self, cluster: str, num_cpus: float = 1.0, num_gpus: float = 0.0, max_retries: int = 3,
                 local_cpus: int | None = None):
        self.session = ClusterSession(cluster, num_cpus=local_cpus)
        ray = require_ray()
        self._remote = ray.remote(_call).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                                 retry_exceptions=False)
        self._refs: list = []

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once with these resources (at least 1)."""
        opts = getattr(self._remote, "_default_options", {}) or {}
        per = float(opts.get("num_cpus") or 1.0)
        return max(1, int(cluster_cpus() // per)) if per > 0 else 1

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        ref = self._remote.remote(fn, args, kwargs)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        ray = require_ray()
        if cancel_futures or not wait:
            for ref in self._refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished or already gone
                    pass
        self._refs = []
        self.session.close()

    def __enter__(self) -> ClusterExecutor:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.shutdown(cancel_futures=exc_type is not None)


def node_cache_dir() -> Path:
    """Where a node keeps files shipped to it (``GOZERO_CLUSTER_CACHE``, default
    ``~/.cache/gozero/cluster``)."""
    return Path(os.environ.get("GOZERO_CLUSTER_CACHE", Path.home() / ".cache" / "gozero" / "cluster"))


def ship_file(path: str | Path) -> tuple[str, list]:
    """Put a file's bytes in the object store once: ``(content digest, [ref])`` (the ref in a
    list, so that Ray hands it to a task as a reference, not as the fetched bytes)."""
    data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()[:32], [require_ray().put(data)]


def fetch_shipped(shipped: tuple[str, list], suffix: str = "") -> Path:
    """On a node: the local copy of a `ship_file` file, fetched once and kept by digest."""
    digest, ref = shipped
    local = node_cache_dir() / f"{digest}{suffix}"
    if not local.is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
        tmp.write_bytes(require_ray().get(ref[0]))
        os.replace(tmp, local)
    return local


def run_tasks(fn: Callable[[Any], Any], items: Iterable[Any], cluster: str | None = "local", num_cpus: float = 1.0,
              num_gpus: float = 0.0, max_in_flight: int | None = None, max_retries: int = 3,
              return_errors: bool = False) -> Iterator[tuple[int, Any]]:
    """``fn(item)`` for every item, on the cluster; yields ``(index, result)`` as tasks finish.

    ``cluster=None`` runs here, in order. ``fn`` and the items must pickle (a module-level
    function; closures pickle by value). At most ``max_in_flight`` tasks are submitted at
    once (default: what the cluster's CPUs hold), so a long list does not flood the
    scheduler. A task lost with its worker or node is retried ``max_retries`` times by Ray.
    An exception raised by ``fn`` stops the iteration (the remaining tasks are cancelled),
    or, with ``return_errors``, is yielded as the result.

    Example (a sweep's trials, results written by the caller only)::

        for i, score in run_tasks(run_trial, params, cluster="auto"):
            ledger.record(params[i], score)
    """
    items = list(items)
    if cluster is None:
        for i, item in enumerate(items):
            try:
                yield i, fn(item)
            except Exception as exc:
                if not return_errors:
                    raise
                yield i, exc
        return
    ray = require_ray()
    with ClusterExecutor(cluster, num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries) as ex:
        limit = max_in_flight or ex.slots
        pending: dict = {}
        queue = list(enumerate(items))
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    i, item = queue.pop(0)
                    pending[ex._remote.remote(fn, (item,), {})] = i
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        value = ray.get(ref)
                    except Exception as exc:
                        if not return_errors:
                            raise
                        cause = getattr(exc, "cause", None)
                        value = cause if isinstance(cause, Exception) else exc
                    yield i, value
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass


__all__ = ["ClusterError", "ClusterExecutor", "ClusterSession", "INSTALL_HINT", "check_cluster_name",
           "cluster_cpus", "fetch_shipped", "node_cache_dir", "require_ray", "run_tasks", "ship_file"]
