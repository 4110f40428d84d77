fn main() {
    let path = std::env::args().nth(1).unwrap();
    match resnetc::compile_file(std::path::Path::new(&path), &Default::default()) {
        Ok(c) => {
            for w in &c.warnings { eprint!("{}", w.render(&c.sources)); }
            print!("{}", resnetc::report::Summary::new(&c.model).render());
            print!("{}", c.model.graph().dump(&c.sources));
        }
        Err(resnetc::Error::Compile(e)) => eprint!("{}", e.render()),
        Err(e) => eprintln!("{e}"),
    }
}
