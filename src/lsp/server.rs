//! The main loop: documents, dispatch, replies.

use std::collections::{BTreeSet, HashMap};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Exit,
    Notification as NotificationTrait, PublishDiagnostics,
};
use lsp_types::request::{Formatting, GotoDefinition, HoverRequest, Request as RequestTrait};
use lsp_types::{
    DocumentFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, HoverProviderCapability, MarkupContent, MarkupKind, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextEdit, Url,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::LspError;
use super::analysis::{Analysis, DOCUMENT};
use super::position::{offset, range};
use super::{definition, diagnostics, hover};
use crate::span::Span;

/// What the server can do.
pub(crate) fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// An open document.
struct Document {
    text: String,
    analysis: Analysis,
}

/// The server's state.
pub(crate) struct Server<'c> {
    connection: &'c Connection,
    documents: HashMap<Url, Document>,
    /// For each open document, the other files it last published diagnostics for.
    published: HashMap<Url, BTreeSet<Url>>,
}

/// A request's outcome: a result, or an error code and message.
type Reply = Result<serde_json::Value, (ErrorCode, String)>;

fn params<P: DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params).map_err(|e| {
        (
            ErrorCode::InvalidParams,
            format!("invalid parameters for `{}`: {e}", req.method),
        )
    })
}

fn to_json(value: impl Serialize) -> Reply {
    serde_json::to_value(value).map_err(|e| {
        (
            ErrorCode::InternalError,
            format!("cannot serialise the reply (this is a bug in resnetc): {e}"),
        )
    })
}

impl<'c> Server<'c> {
    pub(crate) fn new(connection: &'c Connection) -> Self {
        Server {
            connection,
            documents: HashMap::new(),
            published: HashMap::new(),
        }
    }

    fn send(&self, message: Message) -> Result<(), LspError> {
        self.connection
            .sender
            .send(message)
            .map_err(|_| LspError::Disconnected)
    }

    /// Handles messages until `shutdown` + `exit`, a bare `exit`, or a closed connection.
    pub(crate) fn run(mut self) -> Result<(), LspError> {
        for message in &self.connection.receiver {
            match message {
                Message::Request(req) => {
                    if self.connection.handle_shutdown(&req)? {
                        return Ok(());
                    }
                    let id = req.id.clone();
                    let response = match self.request(req) {
                        Ok(result) => Response {
                            id,
                            result: Some(result),
                            error: None,
                        },
                        Err((code, message)) => Response::new_err(id, code as i32, message),
                    };
                    self.send(Message::Response(response))?;
                }
                Message::Notification(n) if n.method == Exit::METHOD => return Ok(()),
                Message::Notification(n) => self.notification(n)?,
                Message::Response(_) => {}
            }
        }
        Ok(())
    }

    fn request(&mut self, req: Request) -> Reply {
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: HoverParams = params(req)?;
                to_json(self.hover(p))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = params(req)?;
                to_json(self.definition(p).map(GotoDefinitionResponse::Scalar))
            }
            Formatting::METHOD => {
                let p: DocumentFormattingParams = params(req)?;
                to_json(self.format(p)?)
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("resnetc lsp does not handle `{other}`"),
            )),
        }
    }

    fn notification(&mut self, n: Notification) -> Result<(), LspError> {
        let method = n.method.clone();
        let outcome = match method.as_str() {
            DidOpenTextDocument::METHOD => {
                serde_json::from_value(n.params).map(|p: lsp_types::DidOpenTextDocumentParams| {
                    let doc = p.text_document;
                    self.update(doc.uri, doc.text, doc.version)
                })
            }
            DidChangeTextDocument::METHOD => {
                serde_json::from_value(n.params).map(|p: lsp_types::DidChangeTextDocumentParams| {
                    let uri = p.text_document.uri;
                    let mut text = self
                        .documents
                        .get(&uri)
                        .map(|d| d.text.clone())
                        .unwrap_or_default();
                    for change in p.content_changes {
                        apply_change(&uri, &mut text, change);
                    }
                    self.update(uri, text, p.text_document.version)
                })
            }
            DidCloseTextDocument::METHOD => serde_json::from_value(n.params)
                .map(|p: lsp_types::DidCloseTextDocumentParams| self.close(p.text_document.uri)),
            // Other notifications (`initialized`, `didSave`, …) need nothing.
            _ => return Ok(()),
        };
        match outcome {
            Ok(sent) => sent,
            // A notification gets no reply: tell the client in its log.
            Err(e) => self.log(format!("resnetc lsp: invalid `{method}` notification: {e}")),
        }
    }

    fn log(&self, message: String) -> Result<(), LspError> {
        let params = lsp_types::LogMessageParams {
            typ: lsp_types::MessageType::ERROR,
            message,
        };
        self.send(Message::Notification(Notification::new(
            <lsp_types::notification::LogMessage as NotificationTrait>::METHOD.to_string(),
            params,
        )))
    }

    /// Recompiles a document and publishes its diagnostics (and clears those
    /// it published before for files that now have none).
    fn update(&mut self, uri: Url, text: String, version: i32) -> Result<(), LspError> {
        let analysis = Analysis::new(uri.clone(), &text);
        let by_file = diagnostics::by_file(&analysis);
        self.documents
            .insert(uri.clone(), Document { text, analysis });
        let others: BTreeSet<Url> = by_file.keys().filter(|u| **u != uri).cloned().collect();
        let stale: Vec<Url> = self
            .published
            .get(&uri)
            .map(|before| before.difference(&others).cloned().collect())
            .unwrap_or_default();
        for file in stale {
            self.publish(file, Vec::new(), None)?;
        }
        for (file, diags) in by_file {
            let v = (file == uri).then_some(version);
            self.publish(file, diags, v)?;
        }
        self.published.insert(uri, others);
        Ok(())
    }

    fn close(&mut self, uri: Url) -> Result<(), LspError> {
        self.documents.remove(&uri);
        let others = self.published.remove(&uri).unwrap_or_default();
        for file in others.into_iter().chain(std::iter::once(uri)) {
            self.publish(file, Vec::new(), None)?;
        }
        Ok(())
    }

    fn publish(
        &self,
        uri: Url,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) -> Result<(), LspError> {
        let params = PublishDiagnosticsParams::new(uri, diagnostics, version);
        self.send(Message::Notification(Notification::new(
            PublishDiagnostics::METHOD.to_string(),
            params,
        )))
    }

    fn hover(&self, p: HoverParams) -> Option<Hover> {
        let at = p.text_document_position_params;
        let doc = self.documents.get(&at.text_document.uri)?;
        let a = &doc.analysis;
        let file = a.program.sources.get(DOCUMENT);
        let off = offset(file, at.position);
        let (span, markdown) = if a.model.is_none() {
            self.hover_through_importers(&at.text_document.uri, &doc.text, off)
                .or_else(|| hover::hover(a, DOCUMENT, off))?
        } else {
            hover::hover(a, DOCUMENT, off)?
        };
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: Some(range(file, span)),
        })
    }

    /// The whole document replaced by `fmt::format_source`'s layout (no edit
    /// when it is already formatted); a document with syntax errors is an
    /// error reply (its diagnostics are already shown).
    fn format(
        &self,
        p: DocumentFormattingParams,
    ) -> Result<Option<Vec<TextEdit>>, (ErrorCode, String)> {
        let Some(doc) = self.documents.get(&p.text_document.uri) else {
            return Ok(None);
        };
        let formatted = crate::fmt::format_source(&doc.text)
            .map_err(|e| (ErrorCode::RequestFailed, format!("cannot format: {e}")))?;
        if formatted == doc.text {
            return Ok(Some(Vec::new()));
        }
        let file = doc.analysis.program.sources.get(DOCUMENT);
        let whole = range(file, crate::span::Span::new(DOCUMENT, 0, file.text.len()));
        Ok(Some(vec![TextEdit::new(whole, formatted)]))
    }

    /// A file whose own model does not compile (a library of blocks) shows
    /// the shapes of another open document that imports it, compiles, and
    /// read the same text from disk.
    fn hover_through_importers(&self, uri: &Url, text: &str, off: usize) -> Option<(Span, String)> {
        let path = uri.to_file_path().ok()?.canonicalize().ok()?;
        let mut importers: Vec<(&Url, &Document)> = self
            .documents
            .iter()
            .filter(|(u, d)| *u != uri && d.analysis.model.is_some())
            .collect();
        importers.sort_by(|x, y| x.0.cmp(y.0));
        importers.into_iter().find_map(|(_, d)| {
            let a = &d.analysis;
            let (file, _) = a.program.sources.files().find(|(id, f)| {
                *id != DOCUMENT
                    && f.text == text
                    && a.program
                        .paths
                        .get(id.0 as usize)
                        .and_then(|p| p.canonicalize().ok())
                        .is_some_and(|p| p == path)
            })?;
            hover::hover(a, file, off)
        })
    }

    fn definition(&self, p: GotoDefinitionParams) -> Option<lsp_types::Location> {
        let at = p.text_document_position_params;
        let doc = self.documents.get(&at.text_document.uri)?;
        let a = &doc.analysis;
        let file = a.program.sources.get(DOCUMENT);
        definition::definition(a, offset(file, at.position))
    }
}

/// Applies one content change: the whole text, or (if a client sends one
/// despite full sync) a range edit.
fn apply_change(uri: &Url, text: &mut String, change: lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(r) => {
            let file = crate::span::SourceFile::new(uri.as_str(), std::mem::take(text));
            let start = offset(&file, r.start);
            let end = offset(&file, r.end).max(start);
            let mut t = file.text;
            t.replace_range(start..end, &change.text);
            *text = t;
        }
    }
}
