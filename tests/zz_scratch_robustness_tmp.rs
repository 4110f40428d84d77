use std::time::Instant;
const H: &str = "model m {\n  input x: [3, 16, 16]\n";
#[test]
fn scratch() {
    let which = std::env::var("W").unwrap();
    let n: usize = std::env::var("N").unwrap().parse().unwrap();
    let src = match which.as_str() {
        "a" => format!("{H}  x{}\n}}\n", " -> relu".repeat(n)),
        "b" => format!("{H}  x{}\n}}\n", " -> l: bn".repeat(n)),
        "c" => format!("{H}  x -> [{}]\n}}\n", "relu, ".repeat(n)),
        "d" => format!("{H}  y = 1{}\n  x\n}}\n", " + 1".repeat(n)),
        "e" => format!("{H}  y = 1{}\n  x\n}}\n", " * 1".repeat(n)),
        "f" => format!("{H}  y = true{}\n  x\n}}\n", " and true".repeat(n)),
        "g" => format!("{H}  x{}\n}}\n", " + x".repeat(n)),
        "h" => format!("{H}  y = [1]{}\n  x\n}}\n", "[0]".repeat(n)),
        "i" => format!("{H}  y = relu{}\n  x\n}}\n", "(x)".repeat(n)),
        "j" => format!("{H}{}  x\n}}\n", "  y = x -> relu\n".repeat(n)),
        _ => panic!(),
    };
    let t = Instant::now();
    let (m, errs) = resnetc::syntax::parse_module(resnetc::span::FileId(0), &src);
    eprintln!("parse {:?} errs {}", t.elapsed(), errs.len());
    let t = Instant::now();
    drop(m);
    eprintln!("drop {:?}", t.elapsed());
    if std::env::var("P").is_ok() { return; }
    let t = Instant::now();
    let r = resnetc::compile_source("s.rn", &src, &Default::default());
    eprintln!("compile {:?} ok={}", t.elapsed(), r.is_ok());
    if let Err(e) = r { eprintln!("{} n={}", e.diagnostics[0].message, e.diagnostics.len());
      let t = Instant::now(); let n: usize = e.diagnostics.iter().take(100).map(|d| d.render(&e.sources).len()).sum(); eprintln!("render100 {:?} {n}", t.elapsed()); }
}
