//! The `nsbox` command: parse, check, act, and turn every outcome into one
//! line on stderr and a documented exit status.
//!
//! Exit status: for `run` and `exec`, the command's own status; 128 + N when
//! it was killed by signal N; 125 when nsbox itself failed (bad input
//! included); 126 when the command cannot be executed; 127 when it is not
//! found. `check` exits 1 when something will not work. The other verbs
//! exit 0 or 125.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nsbox::cli::{parse_signal, Cli, Command, RunArgs, UsageError};
use nsbox::config::ConfigError;
use nsbox::{check, container, detach, error_chain, exec, lifecycle, state};
use tracing_subscriber::EnvFilter;

/// nsbox's own failures, as docker and podman number them.
const EXIT_NSBOX_FAILED: i32 = 125;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err)
            if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            // A bare `nsbox`: the help, and the status of bad input.
            let _ = err.print();
            return ExitCode::from(EXIT_NSBOX_FAILED as u8);
        }
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("nsbox: {}", one_line(&err));
            return ExitCode::from(EXIT_NSBOX_FAILED as u8);
        }
    };
    init_tracing(cli.debug);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nsbox: must run as root (namespaces, mounts and cgroups need it)");
        return ExitCode::from(EXIT_NSBOX_FAILED as u8);
    }
    let root = state::state_root();
    let code = match cli.command {
        Command::Run(args) => run(*args),
        Command::Exec {
            name, command, tty, ..
        } => match exec::exec(&root, &name, command, tty) {
            Ok(code) => code,
            Err(err) => fail(
                &format!("cannot exec in container {name:?}"),
                &err,
                err.exit_code(),
            ),
        },
        other => manage(&root, other),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn run(args: RunArgs) -> i32 {
    let name = args.name.clone();
    let detached = args.detach;
    let config = match args.into_config() {
        Ok(config) => config,
        Err(err) => {
            // A bad name is the error itself: do not print it twice.
            let name_is_bad = matches!(err, UsageError::Config(ConfigError::NameInvalid(_)));
            let what = name
                .filter(|_| !name_is_bad)
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            return fail(
                &format!("cannot start container{what}"),
                &err,
                err.exit_code(),
            );
        }
    };
    if detached {
        return match detach::start(&config) {
            Ok(name) => {
                println!("{name}");
                0
            }
            Err((code, message)) => {
                eprintln!("nsbox: cannot start container {:?}: {message}", config.name);
                code
            }
        };
    }
    match container::run(&config, None) {
        Ok(ended) => {
            if ended.oom_kills > 0 {
                let limit = config.limits.memory.map(format_bytes).unwrap_or_default();
                eprintln!(
                    "nsbox: container {:?}: out of memory: the kernel killed {} process(es) at the memory limit of {limit}",
                    config.name, ended.oom_kills
                );
            }
            ended.exit_code
        }
        Err(err) => fail(
            &format!("cannot start container {:?}", config.name),
            &err,
            err.exit_code(),
        ),
    }
}

/// The verbs that manage existing containers; all exit 0 or 125.
fn manage(root: &Path, command: Command) -> i32 {
    let result = match command {
        Command::List { json } => {
            list(root, json);
            Ok(())
        }
        Command::Logs { follow, name } => {
            lifecycle::logs(root, &name, follow, &mut std::io::stdout())
        }
        Command::Stop { time, names } => {
            return each(&names, |n| {
                lifecycle::stop(root, n, Duration::from_secs(time)).map(|_| true)
            });
        }
        Command::Kill { signal, name } => match parse_signal(&signal) {
            Some(sig) => lifecycle::kill(root, &name, sig),
            None => {
                eprintln!("nsbox: kill: unknown signal {signal:?}");
                return EXIT_NSBOX_FAILED;
            }
        },
        Command::Rm { force, names } => return each(&names, |n| lifecycle::rm(root, n, force)),
        Command::Inspect { name } => lifecycle::inspect(root, &name).map(|value| {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON values serialise")
            );
        }),
        Command::Check => {
            let findings = check::check(&nsbox::cli::default_rootfs(), root);
            for f in &findings {
                println!(
                    "{} {:<22} {}",
                    if f.ok { "ok  " } else { "FAIL" },
                    f.item,
                    f.detail
                );
            }
            return if findings.iter().all(|f| f.ok) { 0 } else { 1 };
        }
        Command::Cleanup => {
            for item in lifecycle::cleanup(root) {
                println!("removed {item}");
            }
            Ok(())
        }
        Command::Run(_) | Command::Exec { .. } => unreachable!("handled by main"),
    };
    match result {
        Ok(()) => 0,
        Err(err) => fail("", &err, EXIT_NSBOX_FAILED),
    }
}

/// Runs a verb on every name, printing each name it acted on and one line
/// per failure; fails (125) if any name failed.
fn each(
    names: &[String],
    mut verb: impl FnMut(&str) -> Result<bool, lifecycle::LifecycleError>,
) -> i32 {
    let mut code = 0;
    for name in names {
        match verb(name) {
            Ok(true) => println!("{name}"),
            Ok(false) => {}
            Err(err) => code = fail("", &err, EXIT_NSBOX_FAILED),
        }
    }
    code
}

fn list(root: &Path, json: bool) {
    let rows = lifecycle::list_rows(root);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON values serialise")
        );
        return;
    }
    println!(
        "{:<24} {:<30} {:>8} {:<16} {:>8}  COMMAND",
        "NAME", "STATUS", "PID", "ADDRESS", "AGE"
    );
    for row in rows {
        let text = |key: &str| row[key].as_str().unwrap_or("-").to_string();
        let age = row["age_seconds"].as_u64().unwrap_or(0);
        println!(
            "{:<24} {:<30} {:>8} {:<16} {:>7}s  {}",
            text("name"),
            text("status"),
            row["pid"]
                .as_i64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            text("address"),
            age,
            text("command")
        );
    }
}

/// A command-line error on one line: clap's first line, its tip if it has
/// one, and where to read more.
fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    let mut first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    // "the following required arguments were not provided:" lists them on
    // the lines after, up to the usage.
    if first.ends_with(':') {
        let mut missing = Vec::new();
        while let Some(line) = lines.next_if(|l| l.starts_with('<') || l.starts_with("--")) {
            missing.push(line);
        }
        first = format!("{} {}", first, missing.join(", "));
    }
    let hint = lines.find_map(|l| {
        l.strip_prefix("tip: ")
            .or_else(|| l.strip_prefix("[").and_then(|l| l.strip_suffix("]")))
    });
    format!("{first} ({})", hint.unwrap_or("see nsbox --help"))
}

/// Prints `nsbox: WHAT: ERROR` (or `nsbox: ERROR`) and returns `code`.
fn fail(what: &str, err: &dyn std::error::Error, code: i32) -> i32 {
    match what {
        "" => eprintln!("nsbox: {}", error_chain(err)),
        what => eprintln!("nsbox: {what}: {}", error_chain(err)),
    }
    code
}

fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn init_tracing(debug: bool) {
    let filter = match (debug, EnvFilter::try_from_default_env()) {
        (true, _) => EnvFilter::new("nsbox=debug"),
        (false, Ok(filter)) => filter,
        (false, Err(_)) => EnvFilter::new("nsbox=warn"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}
