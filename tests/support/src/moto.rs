//! Starting `moto_server` on a free loopback port, tied to the life of the test process.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{BoxError, workspace_root};

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const PORT_ATTEMPTS: usize = 3;

/// Starts moto and returns its endpoint (`http://127.0.0.1:PORT`).
///
/// The child is spawned from a thread that parks for the rest of the process: the kernel
/// sends `PR_SET_PDEATHSIG` when the spawning *thread* ends, so that thread must outlive
/// every test. When the process ends, moto gets SIGKILL.
pub(crate) fn start() -> Result<String, BoxError> {
    let program = locate()?;
    let (report, outcome) = mpsc::channel();
    thread::Builder::new()
        .name("adpipe-testkit-moto".into())
        .spawn(move || match spawn_ready(&program) {
            Ok((child, endpoint)) => {
                let _ = report.send(Ok(endpoint));
                let _child = child;
                loop {
                    thread::park();
                }
            }
            Err(e) => {
                let _ = report.send(Err(e.to_string()));
            }
        })?;
    Ok(outcome.recv()??)
}

/// `$MOTO_SERVER`, else the workspace's `.venv`, else `PATH`.
fn locate() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "moto_server not found (looked at $MOTO_SERVER, {}, PATH): run `make venv`",
                venv.display()
            )
            .into()
        })
}

/// Spawns moto on a free port and waits until it answers; retries on another port if
/// someone took the one picked in between.
fn spawn_ready(program: &PathBuf) -> Result<(Child, String), BoxError> {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!("adpipe-testkit-moto-{port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(program);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        match wait_ready(&mut child, port) {
            Ok(()) => return Ok((child, format!("http://127.0.0.1:{port}"))),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!("{e} (log: {})", log_path.display());
            }
        }
    }
    Err(format!("moto_server did not come up: {last_error}").into())
}

fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn wait_ready(child: &mut Child, port: u16) -> Result<(), BoxError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(format!("moto_server exited with {status}").into());
        }
        if answers_http(port) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no answer on port {port} within {READY_TIMEOUT:?}").into())
}

fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut head = [0u8; 5];
    stream.write_all(request).is_ok() && stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}
