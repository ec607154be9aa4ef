"""The storage SCP: pynetdicom's AE with handlers that turn each association into a drop.

An association's files go into one drop (``names.drop_id_for``); its ``_SUCCESS`` is
written when the peer releases the association normally, and an association that is
aborted, times out or loses its connection has its partial drop removed. Logs carry
counts, drop ids and calling AE titles, never patient data, file paths or UIDs.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from pyarrow.lib import ArrowException
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from pixels_pipeline.scp.config import ScpConfig
from pixels_pipeline.scp.names import drop_id_for, file_name_for
from pixels_pipeline.scp.store import DropStore

LOGGER = logging.getLogger(__name__)

SUCCESS = 0x0000
# Storage "Refused: Out of Resources": the sender may retry later. Sent for a full disk,
# an unwritable store and a dataset over the size limit alike (the log tells which).
OUT_OF_RESOURCES = 0xA700
PROCESSING_FAILURE = 0x0110  # general failure: anything else (a bug, never expected)


def failure_status(exc: BaseException) -> int:
    """The C-STORE status that tells the sender its dataset was not stored."""
    if isinstance(exc, (OSError, ArrowException)):
        return OUT_OF_RESOURCES
    return PROCESSING_FAILURE


def describe_error(exc: BaseException) -> str:
    """An error's type and errno name: its message may hold a path, which is not logged."""
    code = errno.errorcode.get(exc.errno, "") if isinstance(exc, OSError) and exc.errno else ""
    return f"{type(exc).__name__}{f' ({code})' if code else ''}"


@dataclass(frozen=True)
class ScpStats:
    """Counters since start-up."""

    associations: int = 0  # accepted
    rejected: int = 0  # refused at association (allow-lists, association limit)
    echoes: int = 0
    files_stored: int = 0
    store_failures: int = 0  # C-STOREs answered with a failure status
    drops_completed: int = 0
    drops_discarded: int = 0  # aborted or cut associations whose files were removed
    drops_failed: int = 0  # released, but _SUCCESS could not be written


@dataclass
class _Reception:
    """One association's drop while it is received."""

    drop_id: str
    calling_ae: str
    names: set[str] = field(default_factory=set)
    failures: int = 0
    touched: bool = False  # a write was attempted, so the drop folder may exist
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class StorageScp:
    """A storage SCP writing into a landing zone; ``start`` binds, ``stop`` shuts down."""

    def __init__(self, config: ScpConfig, store: DropStore | None = None) -> None:
        self.config = config
        self.store = store or DropStore(config.landing)
        self._receptions: dict[Association, _Reception] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None

    def start(self) -> int:
        """Remove stale incomplete drops, then listen (in background threads); returns
        the bound port (useful with ``port=0``)."""
        removed = self.store.remove_stale(older_than_s=self.config.stale_after_s)
        if removed:
            LOGGER.warning(f"removed {removed} incomplete drop(s) left by cut associations")
        self._ae = self._build_ae()
        server = self._ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=self._handlers()
        )
        assert server is not None  # block=False returns the server
        self._server = server
        port = int(server.server_address[1])
        LOGGER.info(
            f"storage SCP {self.config.ae_title} listening on {self.config.host}:{port}; "
            f"{len(self.config.allowed_ae_titles) or 'any'} allowed calling AE title(s)"
        )
        return port

    def stop(self) -> None:
        """Stop listening; associations still open are aborted (their drops discarded)."""
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = self._server = None

    def stats(self) -> ScpStats:
        with self._lock:
            return ScpStats(**self._counts)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def _build_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_associations = self.config.max_associations
        ae.network_timeout = self.config.network_timeout_s
        return ae

    def _handlers(self) -> list[Any]:
        return [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_cut),
            (evt.EVT_CONN_CLOSE, self._on_cut),
        ]

    def _on_requested(self, event: Event) -> None:
        """The allow-lists, checked before negotiation: a refused caller gets an
        A-ASSOCIATE-RJ (rejected permanent, by the service user) and stores nothing."""
        request = cast(A_ASSOCIATE, event.assoc.requestor.primitive)
        address, ae_title = str(event.assoc.requestor.address), str(request.calling_ae_title)
        if not self.config.address_allowed(address):
            reason, diagnostic = "address not allowed", 0x01  # no reason given
        elif not self.config.ae_title_allowed(ae_title):
            reason, diagnostic = "calling AE title not allowed", 0x03  # not recognised
        else:
            return
        self._count("rejected")  # before the reply: the peer may look at once
        LOGGER.warning(f"rejected an association from {ae_title.strip()!r} at {address}: {reason}")
        event.assoc.acse.send_reject(0x01, 0x01, diagnostic)
        event.assoc.kill()  # as pynetdicom does after its own rejections

    def _on_rejected(self, event: Event) -> None:
        """Rejections by pynetdicom itself, after the allow-lists passed."""
        self._count("rejected")
        LOGGER.warning(
            f"rejected an association from {str(event.assoc.requestor.ae_title).strip()!r}: "
            f"{self.config.max_associations} association(s) already open"
        )

    def _on_accepted(self, event: Event) -> None:
        ae_title = str(event.assoc.requestor.ae_title)
        with self._lock:
            self._receptions[event.assoc] = _Reception(drop_id_for(ae_title), ae_title)
        self._count("associations")

    def _on_echo(self, event: Event) -> int:
        self._count("echoes")
        return SUCCESS

    def _on_store(self, event: Event) -> int:
        with self._lock:
            reception = self._receptions.get(event.assoc)
        if reception is None:  # not accepted through our handlers: cannot happen
            return PROCESSING_FAILURE
        status = self._store(event, reception)
        self._count("files_stored" if status == SUCCESS else "store_failures")
        return status

    def _store(self, event: Event, reception: _Reception) -> int:
        request = cast(C_STORE, event.request)
        size = len(request.DataSet.getbuffer())  # type: ignore[union-attr]
        with reception.lock:
            if reception.finished:
                return PROCESSING_FAILURE
            if size > self.config.max_dataset_bytes:
                reception.failures += 1
                LOGGER.warning(f"{reception.drop_id}: refused a dataset over the size limit")
                return OUT_OF_RESOURCES
            name = file_name_for(str(request.AffectedSOPInstanceUID))
            reception.touched = True
            try:
                self.store.write(reception.drop_id, name, event.encoded_dataset())
            except Exception as exc:  # every failure is answered, never a silent success
                reception.failures += 1
                LOGGER.error(f"{reception.drop_id}: could not store a file: {describe_error(exc)}")
                return failure_status(exc)
            reception.names.add(name)
            return SUCCESS

    def _on_released(self, event: Event) -> None:
        reception = self._pop(event.assoc)
        if reception is None:
            return
        with reception.lock:
            if reception.finished:
                return
            reception.finished = True
            if not reception.names:
                self._discard(reception, "released with no file stored")
                return
            try:
                self.store.complete(reception.drop_id)
            except Exception as exc:
                self._count("drops_failed")
                LOGGER.error(
                    f"{reception.drop_id}: {len(reception.names)} file(s) stored but _SUCCESS "
                    f"could not be written: {describe_error(exc)}; the drop stays incomplete"
                )
                return
        self._count("drops_completed")
        LOGGER.info(
            f"{reception.drop_id}: complete, {len(reception.names)} file(s) from calling AE "
            f"{reception.calling_ae!r}, {reception.failures} refused"
        )

    def _on_cut(self, event: Event) -> None:
        """Abort, network timeout or lost connection: the drop must never be read."""
        reception = self._pop(event.assoc)
        if reception is None:
            return
        with reception.lock:
            if reception.finished:
                return
            reception.finished = True
            self._discard(reception, "association aborted or cut")

    def _discard(self, reception: _Reception, why: str) -> None:
        if not reception.touched:
            return
        try:
            if not self.store.discard(reception.drop_id):
                return
        except Exception as exc:
            LOGGER.error(f"{reception.drop_id}: could not remove: {describe_error(exc)}")
            return
        self._count("drops_discarded")
        LOGGER.warning(f"{reception.drop_id}: {why}; discarded {len(reception.names)} file(s)")

    def _pop(self, assoc: Association) -> _Reception | None:
        with self._lock:
            return self._receptions.pop(assoc, None)
