use clap::Parser;

fn main() {
    let cli = rt::cli::Cli::parse();
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
