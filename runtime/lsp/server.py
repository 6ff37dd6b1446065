"""`dlc lsp`: the language server over stdio (pygls, the optional `lsp` extra). It publishes
dlc's located errors as diagnostics when a document is opened or changed, completes names from
the registries and the spec's models, shows reference text on hover and formats documents
(`features.py` computes all of it; this module only speaks the protocol).

Example:
    >>> server = build_server()  # doctest: +SKIP
    >>> server.start_io()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dlc.runtime.lsp import features

if TYPE_CHECKING:
    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("dlc.lsp")


def _pos(line: int, character: int) -> t.Position:
    from lsprotocol import types as t

    return t.Position(line=line, character=character)


def _diagnostic(uri: str, p: features.Problem) -> t.Diagnostic:
    from lsprotocol import types as t

    related = [
        t.DiagnosticRelatedInformation(
            location=t.Location(uri=uri, range=t.Range(start=_pos(ln, ch), end=_pos(ln, ch + 1))),
            message=note,
        )
        for note, ln, ch in p.notes
    ]
    return t.Diagnostic(
        range=t.Range(start=_pos(p.line, p.character), end=_pos(p.end_line, p.end_character)),
        message=p.message + (f"\nhint: {p.hint}" if p.hint else ""),
        severity=t.DiagnosticSeverity.Error,
        source="dlc",
        related_information=related or None,
    )


_KINDS = {"section": 14, "entry": 3, "setting": 10, "value": 12, "block": 7}
"""Candidate kind -> CompletionItemKind (Keyword, Function, Property, Value, Class)."""


def publish(ls: LanguageServer, uri: str) -> None:
    """Diagnostics for the document's current text (an empty list clears old ones): those of
    the text at once, then, when the spec's data has not been read yet, those of its shapes."""
    from lsprotocol import types as t

    doc = ls.workspace.get_text_document(uri)

    def send(problems: list[features.Problem]) -> None:
        diags = [_diagnostic(uri, p) for p in problems]
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=uri, version=doc.version, diagnostics=diags)
        )

    try:
        problems = features.diagnostics(doc.source, doc.path, shapes=False)
        if not problems:
            if not features.data_loaded(doc.source, doc.path):
                send(problems)  # the text is fine so far; reading the data may take seconds
            problems = features.diagnostics(doc.source, doc.path)
    except Exception:  # a bug in dlc must not take the editor's server down
        log.exception("diagnostics failed for %s", uri)
        problems = []
    send(problems)


def build_server() -> LanguageServer:
    """The server with its features registered; `start_io()` runs it."""
    from importlib.metadata import PackageNotFoundError, version

    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer

    try:
        release = version("dlc")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        release = "0"
    server = LanguageServer("dlc", release, text_document_sync_kind=t.TextDocumentSyncKind.Full)

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LanguageServer, params: t.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LanguageServer, params: t.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LanguageServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(
        t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "=", "{"])
    )
    def completion(ls: LanguageServer, params: t.CompletionParams) -> t.CompletionList:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        pos = params.position
        items = [
            t.CompletionItem(
                label=c.label,
                kind=t.CompletionItemKind(_KINDS[c.kind]),
                detail=c.detail,
                documentation=t.MarkupContent(kind=t.MarkupKind.Markdown, value=c.documentation)
                if c.documentation
                else None,
                insert_text=c.insert,
                sort_text=f"{n:04d}",
            )
            for n, c in enumerate(features.completions(doc.source, pos.line, pos.character))
        ]
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: LanguageServer, params: t.HoverParams) -> t.Hover | None:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        text = features.hover(doc.source, params.position.line, params.position.character)
        if text is None:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: LanguageServer, params: t.DocumentFormattingParams) -> list[t.TextEdit]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return [
            t.TextEdit(
                range=t.Range(start=_pos(0, 0), end=_pos(e.end_line, e.end_character)),
                new_text=e.text,
            )
            for e in features.formatting(doc.source)
        ]

    return server


def serve() -> None:
    """Run the server on stdin/stdout until the client says `exit`."""
    logging.basicConfig(level=logging.WARNING)  # to stderr: stdout carries the protocol
    build_server().start_io()
