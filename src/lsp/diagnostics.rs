//! The compiler's diagnostics as LSP diagnostics, grouped by file.

use std::collections::BTreeMap;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Url,
};

use super::analysis::{Analysis, DOCUMENT};
use super::position::range;
use crate::diag::{Diagnostic, Severity};
use crate::span::Span;

/// Every diagnostic of an analysis, by the URI of the file its primary label
/// is in (the document itself always has an entry, possibly empty).
pub(crate) fn by_file(a: &Analysis) -> BTreeMap<Url, Vec<lsp_types::Diagnostic>> {
    let mut out: BTreeMap<Url, Vec<lsp_types::Diagnostic>> = BTreeMap::new();
    out.insert(a.uri.clone(), Vec::new());
    for d in &a.diagnostics {
        let file = d.primary.as_ref().map_or(DOCUMENT, |l| l.span.file);
        match a.uri_of(file) {
            Some(uri) => out.entry(uri).or_default().push(convert(a, d)),
            None => {
                // An imported file whose path is no URL: shown on the document.
                let mut converted = convert(a, d);
                converted.range = Range::default();
                if let Some(l) = &d.primary {
                    let at = a.program.sources.location(l.span);
                    converted.message = format!("{at}: {}", converted.message);
                }
                out.entry(a.uri.clone()).or_default().push(converted);
            }
        }
    }
    out
}

fn span_range(a: &Analysis, span: Span) -> Range {
    range(a.program.sources.get(span.file), span)
}

/// One diagnostic: the primary label's range, the message followed by the
/// primary label's text, notes and help; secondary labels as related information.
pub(crate) fn convert(a: &Analysis, d: &Diagnostic) -> lsp_types::Diagnostic {
    let range = d
        .primary
        .as_ref()
        .map_or_else(Range::default, |l| span_range(a, l.span));
    let mut message = d.message.clone();
    if let Some(l) = &d.primary
        && !l.message.is_empty()
    {
        message.push('\n');
        message.push_str(&l.message);
    }
    for n in &d.notes {
        message.push_str("\nnote: ");
        message.push_str(n);
    }
    for h in &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: Location::new(a.uri_of(l.span.file)?, span_range(a, l.span)),
                message: l.message.clone(),
            })
        })
        .collect();
    lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: None,
        source: Some("resnetc".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}
