use clap::Parser;

fn main() {
    let cli = match rt::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            // runc exits 1 on usage errors; callers only distinguish 0 from non-zero.
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("rt: {first} (see rt --help)");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt::logging::init(cli.log.clone(), &cli.log_format, cli.debug) {
        rt::logging::error(&format!("{e:#}"));
        std::process::exit(1);
    }
    match rt::commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            rt::logging::error(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}
