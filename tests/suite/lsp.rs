//! The language server, driven in-process over `Connection::memory()`.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    DiagnosticSeverity, NumberOrString, Position, PublishDiagnosticsParams, Range, Url,
};
use resnetc::lsp::LspError;
use serde_json::{Value, json};

struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<(), LspError>>>,
    next_id: i32,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    /// Starts a server and completes the `initialize` handshake; returns the
    /// server's `initialize` result too.
    fn start() -> (Client, Value) {
        let (server, conn) = Connection::memory();
        let handle = std::thread::spawn(move || resnetc::lsp::serve(&server));
        let mut c = Client {
            conn,
            server: Some(handle),
            next_id: 0,
        };
        let init = c.request("initialize", json!({ "capabilities": {} }));
        let result = init.result.expect("initialize succeeds");
        c.notify("initialized", json!({}));
        (c, result)
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.into(),
                params,
            )))
            .unwrap();
    }

    /// Sends a request and returns its response (notifications on the way are dropped).
    fn request(&mut self, method: &str, params: Value) -> Response {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.into(),
                params,
            )))
            .unwrap();
        loop {
            match self.conn.receiver.recv_timeout(TIMEOUT).expect("a reply") {
                Message::Response(r) if r.id == id => return r,
                _ => {}
            }
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    fn diagnostics(&self, uri: &Url) -> PublishDiagnosticsParams {
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(TIMEOUT)
                .expect("diagnostics")
            {
                Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => {
                    let p: PublishDiagnosticsParams = serde_json::from_value(n.params).unwrap();
                    if &p.uri == uri {
                        return p;
                    }
                }
                _ => {}
            }
        }
    }

    fn open(&self, uri: &Url, text: &str) -> PublishDiagnosticsParams {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "rn", "version": 1, "text": text } }),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &Url, line: u32, character: u32) -> Response {
        self.request(
            method,
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
        )
    }

    fn hover(&mut self, uri: &Url, line: u32, character: u32) -> String {
        let r = self.at("textDocument/hover", uri, line, character);
        let result = r.result.expect("hover result");
        result["contents"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no hover at {line}:{character}: {result}"))
            .to_string()
    }

    fn definition(&mut self, uri: &Url, line: u32, character: u32) -> (Url, Range) {
        let r = self.at("textDocument/definition", uri, line, character);
        let result = r.result.expect("definition result");
        let loc: lsp_types::Location = serde_json::from_value(result).unwrap();
        (loc.uri, loc.range)
    }

    /// `shutdown` then `exit`; the server thread ends without error.
    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.error.is_none(), "{r:?}");
        self.notify("exit", Value::Null);
        let served = self.server.take().unwrap().join().expect("no panic");
        assert!(served.is_ok(), "{served:?}");
    }
}

fn range(l0: u32, c0: u32, l1: u32, c1: u32) -> Range {
    Range::new(Position::new(l0, c0), Position::new(l1, c1))
}

fn untitled(name: &str) -> Url {
    Url::parse(&format!("untitled:{name}")).unwrap()
}

const RESIDUAL: &str = "\
block unit(c, stride = 1) {
  input x
  y = x -> conv1: conv(c, 3, stride: stride, pad: 1, bias: false) -> bn -> relu
  y
}
model m {
  input x: [3, 16, 16]
  a = x -> stem: conv(8, 3, pad: 1)
  a -> unit(8) -> unit(16, stride: 2) -> unit(16)
}
";

#[test]
fn initialize_announces_the_capabilities() {
    let (client, init) = Client::start();
    let caps = &init["capabilities"];
    assert_eq!(caps["textDocumentSync"], json!(1), "full sync");
    assert_eq!(caps["hoverProvider"], json!(true));
    assert_eq!(caps["definitionProvider"], json!(true));
    assert_eq!(caps["documentFormattingProvider"], json!(true));
    assert_eq!(caps["positionEncoding"], json!("utf-16"));
    client.shutdown();
}

#[test]
fn diagnostics_on_open_have_utf16_ranges_and_clear_on_change() {
    let (client, _) = Client::start();
    let uri = untitled("bad.rn");
    // On line 2, before `nosuch`: `ö` and `ß` are one UTF-16 unit (two bytes
    // each), `𝔾` two units (four bytes): `nosuch` starts at UTF-16 column 38,
    // character 37, byte 42.
    let text =
        "model m {\n  input x: [3, 8, 8]\n  x -> conv(4, 3, pad: \"Größe 𝔾\") -> nosuch\n}\n";
    let published = client.open(&uri, text);
    assert_eq!(published.version, Some(1));
    let d = &published.diagnostics;
    let undefined = d
        .iter()
        .find(|d| d.code == Some(NumberOrString::String("E0100".into())))
        .unwrap_or_else(|| panic!("no E0100 in {d:#?}"));
    assert_eq!(undefined.range, range(2, 38, 2, 44));
    assert_eq!(undefined.severity, Some(DiagnosticSeverity::ERROR));
    assert_eq!(undefined.source.as_deref(), Some("resnetc"));
    assert!(
        undefined.message.contains("nosuch"),
        "{}",
        undefined.message
    );
    let pad = d
        .iter()
        .find(|d| d.code != Some(NumberOrString::String("E0100".into())))
        .unwrap_or_else(|| panic!("no error for the string padding in {d:#?}"));
    assert_eq!(pad.range, range(2, 18, 2, 33), "{pad:#?}");

    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "text": "model m {\n  input x: [3, 8, 8]\n  x -> conv(4, 3, pad: 1) # Größe 𝔾\n}\n" }]
        }),
    );
    let published = client.diagnostics(&uri);
    assert_eq!(published.version, Some(2));
    assert_eq!(published.diagnostics, vec![]);
    client.shutdown();
}

#[test]
fn secondary_labels_become_related_information_and_warnings_are_warnings() {
    let (client, _) = Client::start();
    let uri = untitled("skip.rn");
    let text = "model m {\n  input x: [3, 8, 8]\n  unused = x -> relu\n  y = x -> conv(4, 1)\n  x + y\n}\n";
    let d = client.open(&uri, text).diagnostics;
    let add = d
        .iter()
        .find(|d| d.code == Some(NumberOrString::String("E0200".into())))
        .unwrap_or_else(|| panic!("no E0200 in {d:#?}"));
    assert_eq!(add.range, range(4, 4, 4, 5), "the `+`");
    let related = add
        .related_information
        .as_ref()
        .expect("related information");
    let ranges: Vec<Range> = related.iter().map(|r| r.location.range).collect();
    assert!(ranges.contains(&range(4, 2, 4, 3)), "{related:#?}");
    assert!(ranges.contains(&range(4, 6, 4, 7)), "{related:#?}");
    assert!(related.iter().all(|r| r.location.uri == uri));
    assert!(
        related.iter().any(|r| r.message.contains("N×3×8×8")),
        "{related:#?}"
    );

    let text = "model m {\n  input x: [3, 8, 8]\n  unused = x -> relu\n  x -> relu\n}\n";
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": text }] }),
    );
    let d = client.diagnostics(&uri).diagnostics;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].severity, Some(DiagnosticSeverity::WARNING));
    assert_eq!(d[0].code, Some(NumberOrString::String("W0001".into())));
    assert_eq!(d[0].range, range(2, 2, 2, 8));
    client.shutdown();
}

#[test]
fn hover_shows_shapes_layers_and_instances() {
    let (mut client, _) = Client::start();
    let uri = untitled("residual.rn");
    assert_eq!(client.open(&uri, RESIDUAL).diagnostics, vec![]);

    // `a` (line 8) is used once: its shape.
    assert_eq!(client.hover(&uri, 8, 2), "`a`: N×8×16×16");
    // The model input at its declaration.
    assert_eq!(client.hover(&uri, 6, 8), "`x`: N×3×16×16");
    // `y` in the block (line 3) is bound in three instances, two shapes.
    let y = client.hover(&uri, 3, 2);
    assert!(y.starts_with("`y`: a tensor in 3 instances"), "{y}");
    assert!(y.contains("- N×8×16×16\n"), "{y}");
    assert!(y.contains("- N×16×8×8 (×2)\n"), "{y}");

    // The stem convolution (line 7): op, arguments, shape, parameters (3·8·9 + 8).
    let stem = client.hover(&uri, 7, 17);
    assert_eq!(
        stem,
        "layer `stem`: `conv(out=8 kernel=3 stride=1 pad=1)` → N×8×16×16, 224 parameters\n"
    );
    // The convolution in the block: three layers, three distinct variants.
    let conv1 = client.hover(&uri, 2, 19);
    assert!(
        conv1.starts_with("3 layers: `unit.conv1`, `unit_1.conv1`, `unit_2.conv1`"),
        "{conv1}"
    );
    assert!(
        conv1.contains(
            "- `conv(out=8 kernel=3 stride=1 pad=1 bias=false)` → N×8×16×16, 576 parameters\n"
        ),
        "{conv1}"
    );
    assert!(
        conv1.contains(
            "- `conv(out=16 kernel=3 stride=2 pad=1 bias=false)` → N×16×8×8, 1,152 parameters\n"
        ),
        "{conv1}"
    );
    // A batch norm: running statistics are not trainable.
    let bn = client.hover(&uri, 2, 70);
    assert!(
        bn.contains("- `bn(eps=0.00001)` → N×8×16×16, 32 parameters (16 trainable)\n"),
        "{bn}"
    );
    // A block parameter: its value in each instance.
    let c = client.hover(&uri, 0, 11);
    assert_eq!(
        c,
        "`c`: parameter of block `unit`, in 3 instances\n\n- 8\n- 16 (×2)\n"
    );
    let stride = client.hover(&uri, 2, 38);
    assert_eq!(
        stride,
        "`stride`: parameter of block `unit`, in 3 instances\n\n- 1 (×2)\n- 2\n"
    );
    // A block call: the instance.
    let call = client.hover(&uri, 8, 19);
    assert!(call.starts_with("block `unit` instance `unit_1`"), "{call}");
    assert!(call.contains("on N×8×16×16"), "{call}");
    client.shutdown();
}

#[test]
fn definition_of_blocks_and_tensors_across_imports() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    std::fs::create_dir(dir_path.join("lib")).unwrap();
    let lib = "# blocks\nblock unit(c) {\n  input x\n  x -> conv(c, 3, pad: 1) -> relu\n}\n";
    std::fs::write(dir_path.join("lib/blocks.rn"), lib).unwrap();
    // The document is not on disk: its text is the editor's, its imports the disk's.
    let main = "import \"lib/blocks.rn\"\nmodel m {\n  input x: [3, 8, 8]\n  a = x -> unit(4)\n  b = a -> relu\n  b + a\n}\n";
    let uri = Url::from_file_path(dir_path.join("main.rn")).unwrap();
    let lib_uri = Url::from_file_path(dir_path.join("lib/blocks.rn")).unwrap();
    let (mut client, _) = Client::start();
    assert_eq!(client.open(&uri, main).diagnostics, vec![]);

    assert_eq!(
        client.definition(&uri, 3, 12),
        (lib_uri.clone(), range(1, 6, 1, 10))
    );
    assert_eq!(
        client.definition(&uri, 5, 6),
        (uri.clone(), range(3, 2, 3, 3))
    );
    assert_eq!(
        client.definition(&uri, 5, 2),
        (uri.clone(), range(4, 2, 4, 3))
    );
    assert_eq!(
        client.definition(&uri, 3, 6),
        (uri.clone(), range(2, 8, 2, 9))
    );
    // Hover works through the import too.
    assert_eq!(client.hover(&uri, 5, 6), "`a`: N×4×8×8");
    // The library alone compiles no model; with `main.rn` open, its layers
    // show the shapes of main's model.
    assert_eq!(client.open(&lib_uri, lib).diagnostics, vec![]);
    assert_eq!(
        client.hover(&lib_uri, 3, 8),
        "layer `unit.conv`: `conv(out=4 kernel=3 stride=1 pad=1)` → N×4×8×8, 112 parameters\n"
    );
    assert_eq!(client.hover(&lib_uri, 2, 8), "`x`: N×3×8×8");
    // Nothing to jump to from an op.
    let r = client.at("textDocument/definition", &uri, 4, 9);
    assert_eq!(r.result, Some(Value::Null));

    // An error in the imported file is published for that file, and cleared.
    std::fs::write(
        dir_path.join("lib/blocks.rn"),
        "block unit(c) {\n  input x\n  x -> nosuch(c)\n}\n",
    )
    .unwrap();
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": main }] }),
    );
    let in_lib = client.diagnostics(&lib_uri);
    assert_eq!(in_lib.diagnostics.len(), 1, "{in_lib:#?}");
    assert_eq!(in_lib.diagnostics[0].range, range(2, 7, 2, 13));
    std::fs::write(dir_path.join("lib/blocks.rn"), lib).unwrap();
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 }, "contentChanges": [{ "text": main }] }),
    );
    assert_eq!(client.diagnostics(&lib_uri).diagnostics, vec![]);
    client.shutdown();
}

#[test]
fn a_library_file_is_not_asked_for_a_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lib/resnet.rn");
    let text = std::fs::read_to_string(&root).unwrap();
    let uri = Url::from_file_path(&root).unwrap();
    let (client, _) = Client::start();
    assert_eq!(client.open(&uri, &text).diagnostics, vec![]);
    // A file with neither a model nor a block still gets the error.
    let d = client
        .open(&untitled("empty.rn"), "# nothing\n")
        .diagnostics;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code, Some(NumberOrString::String("E0108".into())));
    client.shutdown();
}

#[test]
fn malformed_requests_get_errors_and_the_server_carries_on() {
    let (mut client, _) = Client::start();
    let r = client.request("textDocument/hover", json!({ "textDocument": 3 }));
    let e = r.error.expect("an error response");
    assert_eq!(e.code, lsp_server::ErrorCode::InvalidParams as i32);
    assert!(e.message.contains("textDocument/hover"), "{}", e.message);
    let r = client.request("textDocument/noSuchThing", json!({}));
    assert_eq!(
        r.error.expect("error").code,
        lsp_server::ErrorCode::MethodNotFound as i32
    );
    // A malformed notification is logged, not fatal.
    client.notify("textDocument/didOpen", json!({ "textDocument": "?" }));
    // Hover in a document that is not open, or past its end: no result.
    let uri = untitled("x.rn");
    assert_eq!(
        client.at("textDocument/hover", &uri, 0, 0).result,
        Some(Value::Null)
    );
    client.open(&uri, RESIDUAL);
    assert_eq!(
        client.at("textDocument/hover", &uri, 999, 999).result,
        Some(Value::Null)
    );
    assert_eq!(client.hover(&uri, 0, 7), "block `unit`");
    client.shutdown();
}

#[test]
fn formatting_replaces_the_whole_document() {
    let (mut client, _) = Client::start();
    let uri = untitled("messy.rn");
    // Three lines, the last without a newline and with a two-unit `𝔾`.
    let text = "model m{input x:[3,8,8]\n x->relu   # 𝔾\n}";
    client.open(&uri, text);
    let format = |client: &mut Client| {
        client.request(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
        )
    };
    let r = format(&mut client);
    let edits: Vec<lsp_types::TextEdit> = serde_json::from_value(r.result.unwrap()).unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].range, range(0, 0, 2, 1));
    let expected = resnetc::fmt::format_source(text).unwrap();
    assert_eq!(edits[0].new_text, expected);
    assert_eq!(
        expected,
        "model m {\n  input x: [3, 8, 8]\n  x -> relu # 𝔾\n}\n"
    );

    // Formatted already: no edit.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": expected }] }),
    );
    client.diagnostics(&uri);
    let r = format(&mut client);
    assert_eq!(r.result, Some(json!([])));

    // Syntax errors: an error reply, nothing changed.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 }, "contentChanges": [{ "text": "model m {" }] }),
    );
    client.diagnostics(&uri);
    let r = format(&mut client);
    let e = r.error.expect("an error reply");
    assert_eq!(e.code, lsp_server::ErrorCode::RequestFailed as i32);
    assert!(e.message.contains("syntax error"), "{}", e.message);
    client.shutdown();
}

/// `resnetc lsp` connects the same server to stdin/stdout.
#[test]
fn the_subcommand_serves_on_stdio_and_exits_cleanly() {
    use std::io::Write;
    let frame = |v: Value| {
        let body = v.to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let input = [
        frame(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } })),
        frame(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} })),
        frame(json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown" })),
        frame(json!({ "jsonrpc": "2.0", "method": "exit" })),
    ]
    .concat();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("\"hoverProvider\":true"), "{stdout}");
    assert!(stdout.contains("\"id\":2"), "{stdout}");
}

/// `examples/resnet18.rn` specialises a model of its import with a block of it.
#[test]
fn definition_of_an_imported_model_and_block() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .canonicalize()
        .unwrap();
    let main = examples.join("resnet18.rn");
    let uri = Url::from_file_path(&main).unwrap();
    let lib = Url::from_file_path(examples.join("lib/resnet.rn")).unwrap();
    let (mut client, _) = Client::start();
    let text = std::fs::read_to_string(&main).unwrap();
    assert_eq!(client.open(&uri, &text).diagnostics, vec![]);
    // `model resnet18 = resnet(basic, [2, 2, 2, 2])` on line 4; `model
    // resnet(` and `block basic(` are found in the library (their lines move
    // as the library grows).
    let lib_text = std::fs::read_to_string(examples.join("lib/resnet.rn")).unwrap();
    let model_line = lib_text
        .lines()
        .position(|l| l.starts_with("model resnet("))
        .unwrap() as u32;
    assert_eq!(
        client.definition(&uri, 4, 18),
        (lib.clone(), range(model_line, 6, model_line, 12))
    );
    let block_line = lib_text
        .lines()
        .position(|l| l.starts_with("block basic("))
        .unwrap() as u32;
    assert_eq!(
        client.definition(&uri, 4, 25),
        (lib, range(block_line, 6, block_line, 11))
    );
    client.shutdown();
}
