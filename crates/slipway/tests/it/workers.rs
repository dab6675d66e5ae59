//! A queue worker through a deploy, on the real engine: Redis from Debian's packages as a
//! service, a worker app that takes jobs with BLMOVE (queue → processing), and a deploy that
//! replaces the worker while it holds a job. The old worker is asked to stop with its signal,
//! finishes the job in hand within its grace period and exits; the new one takes the rest. Every
//! job is done exactly once: none lost, none done twice, none left in processing.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::deploy::{Down, deploy_ok, shop_with_files};

const QUEUE_DOCKERFILE: &str = r#"FROM debian:bookworm-20251117-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
"#;

/// The worker: a few lines of the Redis protocol over a socket (the base has no Redis client).
/// Takes a job, works on it for 3 s, records it done, and between jobs stops when asked.
const WORKER: &str = r#"import os, signal, socket, sys, time

stopping = False
def stop(signum, frame):
    global stopping
    stopping = True
    print("asked to stop; finishing the job in hand", flush=True)
signal.signal(signal.SIGTERM, stop)

sock = socket.create_connection(("queue", 6379))
reader = sock.makefile("rb")

def call(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return reply()

def reply():
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b":"):
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [reply() for _ in range(n)]
    raise RuntimeError("unexpected reply %r" % line)

me = socket.gethostname()
print("worker ready", me, flush=True)
while not stopping:
    job = call("BLMOVE", "jobs", "processing", "LEFT", "RIGHT", "1")
    if job is None:
        continue
    print("working on", job, flush=True)
    time.sleep(3)
    call("RPUSH", "done", job + "@" + me)
    call("LREM", "processing", "1", job)
    print("done", job, flush=True)
print("stopped", flush=True)
sys.exit(0)
"#;

fn redis(queue: &str, args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(["exec", queue, "redis-cli"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn list(queue: &str, key: &str) -> Vec<String> {
    redis(queue, &["LRANGE", key, "0", "-1"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_queue_worker_replaced_mid_job_loses_and_repeats_no_job() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, _host) = shop_with_files(
        temp.path(),
        "itworker-queue",
        "strategy = { kind = \"blue-green\" }",
        &[(
            "[services.db]",
            "[apps.worker]\ndir = \"app/worker\"\nbase = \"python\"\nconfig = \"api\"\n\
             cmd = [\"python3\", \"/app/worker.py\"]\nstop_signal = \"SIGTERM\"\n\
             stop_grace_period = \"30s\"\n\n\
             [services.queue]\nbuild = \"services/queue\"\nenvironments = [\"prod\"]\n\n\
             [services.db]",
        )],
        &[
            ("app/worker/worker.py", WORKER),
            ("services/queue/Dockerfile", QUEUE_DOCKERFILE),
        ],
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    let project = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("name = \"")
                .map(|n| n.trim_end_matches('"').to_owned())
        })
        .unwrap();
    let queue = format!("{project}-prod-queue");
    let jobs: Vec<String> = (1..=8).map(|n| format!("job-{n}")).collect();
    let mut push = vec!["RPUSH", "jobs"];
    push.extend(jobs.iter().map(String::as_str));
    redis(&queue, &push);

    // The deploy starts while the worker holds a job.
    let started = Instant::now();
    while list(&queue, "processing").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker took no job"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = list(&queue, "processing");
    deploy_ok(&shop, &["--force", "--app", "worker"]);

    let started = Instant::now();
    let done = loop {
        let done = list(&queue, "done");
        if done.len() >= jobs.len()
            && list(&queue, "jobs").is_empty()
            && list(&queue, "processing").is_empty()
        {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the jobs did not all get done: done {done:?}, queued {:?}, processing {:?}",
            list(&queue, "jobs"),
            list(&queue, "processing")
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut ids: Vec<&str> = done.iter().map(|d| d.split('@').next().unwrap()).collect();
    ids.sort_by_key(|id| id.trim_start_matches("job-").parse::<u32>().unwrap());
    assert_eq!(ids, jobs, "each job done exactly once: {done:?}");
    // The job held at the deploy was finished by the worker that held it, and the rest were
    // shared between the old worker and its replacement.
    let workers: std::collections::BTreeSet<&str> =
        done.iter().map(|d| d.split('@').nth(1).unwrap()).collect();
    assert_eq!(workers.len(), 2, "{done:?}");
    let held_by = done
        .iter()
        .find(|d| d.starts_with(&format!("{}@", held[0])))
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap();
    let first_done_by = done[0].split('@').nth(1).unwrap();
    assert_eq!(held_by, first_done_by, "{done:?}");
}
