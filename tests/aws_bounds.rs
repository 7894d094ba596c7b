//! `scan --aws` against endpoints that misbehave, served from 127.0.0.1: one that accepts and
//! never answers, one that sends the headers and then a byte every 2 s, one whose NextToken never
//! ends, one that repeats a NextToken, and one whose answer is too large. Each must fail the
//! region (exit 3) within a bound, saying why; none may hang. No moto needed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

/// How the fake EC2 endpoint treats each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Reads the request, never answers.
    Silent,
    /// Sends a 200's headers, then one byte of the body every 2 s.
    Trickle,
    /// Answers every list with a NextToken one more than the one asked with.
    EndlessToken,
    /// Answers every list with the same NextToken.
    RepeatedToken,
    /// Answers with a body of this many bytes, Content-Length included.
    Large(usize),
}

/// Serves `behaviour` on a free port of 127.0.0.1 until the test ends; its URL.
fn serve(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream, behaviour));
        }
    });
    url
}

/// The request's form body (`Action=…&NextToken=…`).
fn read_request(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

fn form_value<'a>(form: &'a str, key: &str) -> Option<&'a str> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

fn answer(mut stream: TcpStream, behaviour: Behaviour) {
    let Some(form) = read_request(&stream) else {
        return;
    };
    let action = form_value(&form, "Action").unwrap_or("Unknown").to_string();
    let page = |token: &str| {
        format!(
            "<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><nextToken>{token}</nextToken></{action}Response>"
        )
    };
    let body = match behaviour {
        Behaviour::Silent => {
            // Hold the connection open, answering nothing, until the client gives up.
            let _ = stream.read(&mut [0; 1]);
            return;
        }
        Behaviour::Trickle => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            while stream.write_all(b" ").is_ok() {
                thread::sleep(Duration::from_secs(2));
            }
            return;
        }
        Behaviour::EndlessToken => {
            let asked: u64 = form_value(&form, "NextToken").map_or(0, |t| t.parse().unwrap_or(0));
            page(&(asked + 1).to_string())
        }
        Behaviour::RepeatedToken => page("again"),
        Behaviour::Large(bytes) => format!("{}{}", page(""), " ".repeat(bytes)),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `scan --aws` of one region at `url`, with test credentials and nothing of the user's AWS
/// configuration, one attempt per call; its output and how long it took.
fn scan(url: &str, limits: &[String]) -> (Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = Command::new(Path::new(env!("CARGO_BIN_EXE_portcullis")));
    for variable in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_SESSION_TOKEN",
    ] {
        command.env_remove(variable);
    }
    let output = command
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["scan", "--aws", "--quiet", "--endpoint-url", url])
        .args(limits)
        .output()
        .unwrap();
    (output, started.elapsed())
}

/// Each endpoint fails the region within `within`, exit 3, with an error line containing the
/// words given.
#[test]
fn a_misbehaving_endpoint_fails_the_region_in_bounded_time() {
    let fast = ["--read-timeout", "500ms", "--connect-timeout", "1s"];
    let cases: &[(&str, Behaviour, &[&str], &str)] = &[
        ("silent", Behaviour::Silent, &fast, "timed out"),
        (
            "silent past the deadline",
            Behaviour::Silent,
            &["--read-timeout", "30s", "--scope-deadline", "1s"],
            "timed out: the region was not read within 1s (--scope-deadline)",
        ),
        (
            "trickle",
            Behaviour::Trickle,
            &fast,
            "timed out: the EC2 endpoint sent the headers, then nothing for 500ms",
        ),
        (
            "endless token",
            Behaviour::EndlessToken,
            &["--scope-deadline", "2s"],
            "timed out: the region was not read within 2s",
        ),
        (
            "repeated token",
            Behaviour::RepeatedToken,
            &fast,
            "repeats a NextToken of an earlier page",
        ),
        (
            "large",
            Behaviour::Large(4096),
            &["--max-response-size", "1KiB"],
            "larger than 1024 bytes (--max-response-size)",
        ),
    ];
    let within = Duration::from_secs(20);
    let runs: Vec<_> = cases
        .iter()
        .map(|&(name, behaviour, limits, _)| {
            let url = serve(behaviour);
            let limits: Vec<String> = limits.iter().map(ToString::to_string).collect();
            (name, thread::spawn(move || scan(&url, &limits)))
        })
        .collect();
    for ((name, run), &(_, _, _, expected)) in runs.into_iter().zip(cases) {
        let (output, took) = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{name}: {stderr}");
        assert!(took < within, "{name} took {took:?}: {stderr}");
        assert!(
            stderr.contains("error: region us-east-1: ") && stderr.contains(expected),
            "{name}: want {expected:?} in:\n{stderr}"
        );
    }
}
