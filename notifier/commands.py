"""CLI: ``keys generate|rotate|show-public``, ``verify-message``, ``audit verify``, ``receiver``,
``notify``, ``licence install|show``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from minewatch.config import FacilityConfig, load_facility
from minewatch.logs import setup_logging

CONFIG_HELP = "facility.yaml (the key folder and state.db are taken from it)"


def _cfg(config: Path | None) -> FacilityConfig | None:
    return load_facility(config) if config else None


def _key_dir(config: Path | None, key_dir: Path | None) -> Path:
    if key_dir is not None:
        return key_dir
    cfg = _cfg(config)
    if cfg is None:
        raise typer.BadParameter("give --config or --key-dir")
    return cfg.path(cfg.notify.central_bank.key_dir)


def _ledger_key_event(config: Path | None, kind: str, key_id: str, pem: str) -> None:
    """Key changes are configuration changes: record them in the facility's ledger when we know
    it."""
    cfg = _cfg(config)
    if cfg is None:
        return
    from minewatch.ledger import Ledger

    Ledger(cfg.state_db).append(
        kind,
        {"key_id": key_id, "public_key": pem},
        at_ns=time.time_ns(),
        actor="cli",
        subject=cfg.facility.id,
    )


def _new_key(
    config: Path | None, key_dir: Path | None, ledger_kind: str
) -> tuple[Path, str | None, str, str]:
    """Generate a key and make it current: (folder, previous key id, new key id, public PEM)."""
    from minewatch.notifier.signing import KeyStore, public_pem

    ks = KeyStore(_key_dir(config, key_dir))
    old = ks.current_id()
    if old and ledger_kind == "key.generated":
        typer.echo(f"{ks.dir}: a key already exists ({old}); use `minewatch keys rotate`", err=True)
        raise typer.Exit(1)
    kid = ks.generate()
    pem = public_pem(ks.public_keys()[kid])
    _ledger_key_event(config, ledger_kind, kid, pem)
    return ks.dir, old, kid, pem


def _state_db(cfg: FacilityConfig | None, db: Path | None) -> Path:
    path = db or (cfg.state_db if cfg else None)
    if path is None or not path.exists():
        typer.echo(f"no ledger database: {path or 'give --config or --db'}", err=True)
        raise typer.Exit(2)
    return path


def _parse_headers(path: Path) -> dict[str, str]:
    """Headers as a JSON object, or as ``Name: value`` lines (what ``curl -D`` writes)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        data = orjson.loads(text)
        return {str(k): str(v) for k, v in data.items()}
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.upper().startswith("HTTP/"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def register(app: typer.Typer) -> None:
    keys = typer.Typer(
        rich_markup_mode="markdown",
        no_args_is_help=True,
        help="The facility's Ed25519 signing keys for central-bank messages.",
    )
    audit = typer.Typer(
        rich_markup_mode="markdown", no_args_is_help=True, help="The tamper-evident ledger."
    )
    app.add_typer(keys, name="keys")
    app.add_typer(audit, name="audit")
    licence = typer.Typer(
        rich_markup_mode="markdown",
        no_args_is_help=True,
        help="The licence terms the regulator issued (signed).",
    )
    app.add_typer(licence, name="licence")

    @licence.command("install")
    def licence_install(
        terms_file: Annotated[Path, typer.Argument(help="Signed terms from the regulator")],
        config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)],
    ) -> None:
        """Put licence terms in force from a file (a site that cannot reach the hub): checked
        against the pinned regulator key and this facility, then ledgered; a running notifier
        takes them from the ledger."""
        from minewatch.counters import Counters
        from minewatch.ledger import Ledger
        from minewatch.notifier.licence import TermsRefused
        from minewatch.notifier.terms import TermsInForce

        cfg = load_facility(config)
        try:
            signed = terms_file.read_bytes()
        except OSError as exc:
            typer.echo(f"{terms_file}: cannot read: {exc}", err=True)
            raise typer.Exit(2) from None
        terms = TermsInForce(cfg, Ledger(cfg.state_db), Counters(), time.time_ns)
        try:
            terms.offer(signed, f"file:{terms_file.name}")
        except TermsRefused as exc:
            typer.echo(f"refused: {exc.reason}: {exc.detail}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"installed: {terms.describe()}")

    @licence.command("show")
    def licence_show(
        config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)],
    ) -> None:
        """The licence terms in force (or that none were ever received)."""
        from minewatch.counters import Counters
        from minewatch.ledger import Ledger
        from minewatch.notifier.terms import TermsInForce

        cfg = load_facility(config)
        typer.echo(TermsInForce(cfg, Ledger(cfg.state_db), Counters(), time.time_ns).describe())

    @keys.command("generate")
    def keys_generate(
        config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
        key_dir: Annotated[
            Path | None, typer.Option("--key-dir", help="Key folder (instead of --config)")
        ] = None,
    ) -> None:
        """Create the first signing key (refuses if one exists: use `keys rotate`)."""
        folder, _, kid, pem = _new_key(config, key_dir, "key.generated")
        typer.echo(
            f"generated key {kid} in {folder} (private key mode 0600); give the regulator its "
            "public key:"
        )
        typer.echo(pem, nl=False)

    @keys.command("rotate")
    def keys_rotate(
        config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
        key_dir: Annotated[Path | None, typer.Option("--key-dir")] = None,
    ) -> None:
        """Make a new key current; older keys stay so messages already signed can still be
        verified."""
        _, old, kid, pem = _new_key(config, key_dir, "key.rotated")
        typer.echo(
            f"rotated {old or '(none)'} -> {kid}; register this public key with the regulator:"
        )
        typer.echo(pem, nl=False)

    @keys.command("show-public")
    def keys_show_public(
        config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
        key_dir: Annotated[Path | None, typer.Option("--key-dir")] = None,
        all_keys: Annotated[bool, typer.Option("--all", help="Also the retired keys")] = False,
    ) -> None:
        """Print the public key(s) with their key ids (never the private key)."""
        from minewatch.notifier.signing import KeyStore, public_pem

        ks = KeyStore(_key_dir(config, key_dir))
        current = ks.current_id()
        if current is None:
            typer.echo(f"{ks.dir}: no key; run `minewatch keys generate`", err=True)
            raise typer.Exit(1)
        for kid, key in sorted(ks.public_keys().items()):
            if all_keys or kid == current:
                typer.echo(f"# key id {kid}{' (current)' if kid == current else ' (retired)'}")
                typer.echo(public_pem(key), nl=False)

    @app.command("verify-message")
    def verify_message_cmd(
        body: Annotated[Path, typer.Option("--body", help="The exact body bytes as received")],
        headers: Annotated[
            Path, typer.Option("--headers", help="Headers: JSON object or 'Name: value' lines")
        ],
        public_key: Annotated[
            list[Path],
            typer.Option("--public-key", "-k", help="Public key PEM file or folder of *.pub"),
        ],
        window_s: Annotated[
            float, typer.Option("--window", help="Accepted clock difference, seconds")
        ] = 300.0,
        now_s: Annotated[
            float | None,
            typer.Option("--now", help="Check as of this Unix time (e.g. when it was received)"),
        ] = None,
        receiver_db: Annotated[
            Path | None,
            typer.Option("--receiver-db", help="Receiver database: also reject replays"),
        ] = None,
    ) -> None:
        """Check one central-bank message: signature, key, timestamp window, ids; prints valid or
        the reason."""
        from minewatch.notifier.receiver import ReceiverStore
        from minewatch.notifier.signing import KeyFileError, load_public_keys, verify_message

        try:
            keys_ = load_public_keys(public_key)
        except KeyFileError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        seen = ReceiverStore(receiver_db).seen if receiver_db else None
        verdict = verify_message(
            body.read_bytes(),
            _parse_headers(headers),
            keys_,
            now_s=now_s,
            window_s=window_s,
            seen=seen,
        )
        typer.echo(
            str(verdict)
            + (f" (key {verdict.key_id}, message {verdict.message_id})" if verdict.valid else "")
        )
        raise typer.Exit(0 if verdict.valid else 1)

    @audit.command("verify")
    def audit_verify(
        config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="state.db (instead of --config)")
        ] = None,
        anchor: Annotated[
            list[str] | None,
            typer.Option("--anchor", help="SEQ:HASH the regulator holds (repeatable)"),
        ] = None,
        anchors_from: Annotated[
            Path | None,
            typer.Option(
                "--anchors-from",
                help="A reference-receiver database: check every ledger head this facility sent",
            ),
        ] = None,
        facility: Annotated[
            str | None,
            typer.Option("--facility", help="Facility id in --anchors-from (default: config's)"),
        ] = None,
    ) -> None:
        """Walk the ledger's hash chain; report the first entry edited, deleted or reordered."""
        from minewatch.ledger import Ledger
        from minewatch.notifier import regulator as reg
        from minewatch.notifier.chain import verify_outbox
        from minewatch.notifier.outbox import Outbox
        from minewatch.notifier.receiver import ReceiverStore

        cfg = _cfg(config)
        path = _state_db(cfg, db)
        anchors: list[tuple[int, str]] | None = None
        for a in anchor or []:
            seq, _, h = a.partition(":")
            if not seq.isdigit() or len(h) != 64:
                raise typer.BadParameter(f"--anchor {a!r}: expected SEQ:HASH (64 hex digits)")
            anchors = [*(anchors or []), (int(seq), h.lower())]
        if anchors_from:
            fid = facility or (cfg.facility.id if cfg else None)
            if fid is None:
                raise typer.BadParameter("--anchors-from needs --facility or --config")
            held = ReceiverStore(anchors_from).anchors(fid)
            if not held:
                # 0 anchors checked is no check at all: a misspelt id must not read as "OK"
                raise typer.BadParameter(
                    f"--facility {fid!r}: the central bank's database {anchors_from} holds no "
                    "message from this facility (unknown facility id?)"
                )
            anchors = [*(anchors or []), *held]
        ledger = Ledger(path)
        report = ledger.verify(anchors)
        problems = [*report.problems, *verify_outbox(ledger, Outbox(path), reg.DESTINATION)]
        if not problems:
            typer.echo(
                f"OK: {report.entries} entries, chain intact; head #{report.head.seq} "
                f"{report.head.hash}; outbox matches the ledger"
                + (f"; {len(anchors)} anchor(s) match" if anchors else "")
            )
            return
        problems.sort(key=lambda p: p.seq)
        typer.echo(f"TAMPERED: first problem at {problems[0]}", err=True)
        for p in problems[1:]:
            typer.echo(f"  also: {p}", err=True)
        raise typer.Exit(1)

    @audit.command("export")
    def audit_export(
        config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="state.db (instead of --config)")
        ] = None,
        after_seq: Annotated[
            int, typer.Option("--after-seq", help="Only entries after this sequence number")
        ] = 0,
        kind: Annotated[
            list[str] | None,
            typer.Option("--kind", help="Only these kinds, e.g. alert.transition (repeatable)"),
        ] = None,
    ) -> None:
        """Ledger entries as JSON lines (with prev_hash and hash, so an inspector can re-check
        them)."""
        from minewatch.ledger import Ledger

        led = Ledger(_state_db(_cfg(config), db))
        while batch := led.entries(after_seq=after_seq, limit=1000):
            for e in batch:
                if not kind or e.kind in kind:
                    typer.echo(orjson.dumps(e.as_dict(), option=orjson.OPT_SORT_KEYS).decode())
            after_seq = batch[-1].seq

    @app.command("receiver")
    def receiver_cmd(
        keys_: Annotated[
            list[Path],
            typer.Option("--keys", "-k", help="Facility public keys: PEM files or folders"),
        ],
        db: Annotated[Path, typer.Option("--db", help="Where received messages are stored")] = Path(
            "receiver.db"
        ),
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8088,
        window_s: Annotated[float, typer.Option("--window")] = 300.0,
    ) -> None:
        """Run the reference receiver (the central bank's side): POST /v1/messages."""
        import uvicorn

        from minewatch.notifier.receiver import ReceiverStore, create_app
        from minewatch.notifier.signing import load_public_keys

        pub = load_public_keys(keys_)
        typer.echo(
            f"receiver on http://{host}:{port}/v1/messages, {len(pub)} key(s): "
            f"{', '.join(sorted(pub))} "
            "(new *.pub files in those folders are picked up without a restart)"
        )
        uvicorn.run(
            create_app(ReceiverStore(db), list(keys_), window_s=window_s),
            host=host,
            port=port,
            log_level="info",
        )

    @app.command("notify")
    def notify_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        status: Annotated[
            bool, typer.Option("--status", help="Print the outbox and ledger state and exit")
        ] = False,
        requeue_dead: Annotated[
            bool, typer.Option("--requeue-dead", help="Give dead messages a new deadline, exit")
        ] = False,
        test: Annotated[
            bool,
            typer.Option(
                "--test",
                help="Send a test notification to every operator channel now "
                "(not queued) and print each outcome, exit",
            ),
        ] = False,
    ) -> None:
        """Run the delivery service standalone: deliver what other processes queued, heartbeats,
        daily report."""

        from minewatch.notifier.service import Notifier

        cfg = load_facility(config)
        if test:
            results = Notifier(cfg, None, deliver=False).test_channels()
            for name, res in results.items():
                typer.echo(
                    f"{name}: {'OK' if res.ok else 'FAILED'} ({res.status_code}) {res.detail}"
                )
            if not results:
                typer.echo("no operator channels configured")
            raise typer.Exit(0 if all(r.ok for r in results.values()) else 1)
        if status or requeue_dead:
            from minewatch.notifier.outbox import Outbox

            ob = Outbox(cfg.state_db)
            if requeue_dead:
                now = time.time_ns()
                n = ob.requeue_dead(
                    now, now + int(cfg.notify.central_bank.backoff.dead_after_s * 1e9)
                )
                typer.echo(f"requeued {n} dead message(s)")
            typer.echo(orjson.dumps(ob.counts(), option=orjson.OPT_INDENT_2).decode())
            for m in ob.messages(status="dead", limit=50):
                typer.echo(
                    f"dead #{m.id} {m.destination} {m.kind} after {m.attempts} attempt(s): "
                    f"{m.last_error}"
                )
            from minewatch.ledger import Ledger

            head = Ledger(cfg.state_db).head()
            typer.echo(f"ledger head #{head.seq} {head.hash}")
            return
        setup_logging()
        svc = Notifier(cfg, None, report_source=default_report_source(cfg))
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        svc.start()
        typer.echo(
            f"notifier running for {cfg.facility.id}; destinations: "
            f"{', '.join(svc.workers) or 'none'}"
        )
        done.wait()
        svc.stop()


def default_report_source(cfg: FacilityConfig) -> Callable[[int, int], dict[str, Any]] | None:
    """The analyzer's report builder (``minewatch.analyzer.report.build_report``) when the
    analyzer is installed; None otherwise (the notifier then reports what its ledger holds)."""
    try:
        from minewatch.analyzer.report import build_report
        from minewatch.analyzer.state import AlertStore
    except ImportError:
        return None
    from minewatch.store import open_store

    def source(start_ns: int, end_ns: int) -> dict[str, Any]:
        store = open_store(cfg)
        alerts = AlertStore(cfg.state_db)
        try:
            return build_report(cfg, store, alerts, None, start_ns, end_ns)
        finally:
            alerts.close()
            store.close()

    return source
