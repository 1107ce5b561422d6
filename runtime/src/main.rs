use clap::Parser;

fn main() {
    // The container's init, re-exec'd from the sealed binary by `rt create` (rt::exe).
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == rt::exe::INIT_ARG) {
        rt::container::init::resume_main(args.next());
    }
    let cli = match rt::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            // runc exits 1 on usage errors; callers only distinguish 0 from non-zero.
            eprintln!("rt: {} (see rt --help)", usage_error(&e));
            std::process::exit(1);
        }
    };
    // CVE-2019-5736: `exec` runs from a read-only mount of the rt binary, as the child
    // it makes joins the container (see rt::exe; `create` and `run` decide in create).
    if matches!(cli.command, Some(rt::cli::Command::Exec(_))) {
        if let Err(e) = rt::exe::ensure_readonly() {
            eprintln!("rt: {e:#}");
            std::process::exit(1);
        }
    }
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

/// clap's message as one line, naming the argument at fault, e.g.
/// "the following required arguments were not provided: <ID>".
fn usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let mut line: String = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(|l| l.trim().trim_start_matches("error: "))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(ContextValue::Strings(args)) = e.get(ContextKind::InvalidArg) {
        if !args.iter().any(|a| line.contains(a.as_str())) {
            line = format!("{line} {}", args.join(", "));
        }
    }
    line
}
