//! Deploys to Amazon ECS against the test bed's moto_server: the example shop's api as ECS
//! services, read back through the AWS API (boto3, `aws/moto.py`), never through slipway's own
//! output. moto does not keep a service's deployment configuration, so a recording front between
//! slipway and moto checks what slipway asked for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::{Receiver, copy_example, repo_root, run, slipway, unique, write};

fn endpoint() -> String {
    std::env::var("SLIPWAY_TEST_AWS_ENDPOINT")
        .expect("SLIPWAY_TEST_AWS_ENDPOINT is not set: run the tests through scripts/test")
}

/// Runs `base release`, `base update` and `build BUILD...` in a project, which must succeed.
fn prepare(shop: &Path, build: &[&str]) {
    let build: Vec<&str> = std::iter::once("build")
        .chain(build.iter().copied())
        .collect();
    for step in [&["base", "release"][..], &["base", "update"], &build] {
        let result = run(slipway(shop).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
}

/// `command` with test credentials for the AWS endpoint at `endpoint`, and no instance metadata.
fn with_aws<'c>(
    command: &'c mut assert_cmd::Command,
    endpoint: &str,
) -> &'c mut assert_cmd::Command {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
}

/// The shop named `prefix-...` with an `ecr` registry at `front` (`credentials = "aws"`, plus
/// `extra` lines), its api built.
fn ecr_shop(dir: &Path, prefix: &str, front: &str, extra: &str) -> (PathBuf, String) {
    let shop = copy_example(dir);
    let name = unique(prefix);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .replace("name = \"shop\"", &format!("name = \"{name}\""));
    write(
        &shop,
        "slipway.toml",
        &format!("{manifest}\n[registries.ecr]\nurl = \"{front}\"\ncredentials = \"aws\"\n{extra}"),
    );
    prepare(&shop, &["api"]);
    (shop, name)
}

/// boto3 from moto's own venv, on `aws/moto.py`.
fn moto(args: &[&str]) -> Value {
    let python = PathBuf::from(std::env::var("SLIPWAY_TESTBED_DIR").expect("the test bed's env"))
        .join("moto-venv/bin/python");
    let output = std::process::Command::new(python)
        .arg(repo_root().join("crates/slipway/tests/it/aws/moto.py"))
        .args(args)
        .env("SLIPWAY_TEST_AWS_ENDPOINT", endpoint())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "moto.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The shop with an `aws` environment on ECS (the api only) on a fresh cluster, VPC and ALB.
struct Shop {
    dir: PathBuf,
    cluster: String,
    aws: Value,
    endpoint: String,
    /// The listener (or listener rule) slipway moves weights on.
    router: String,
}

impl Shop {
    fn new(dir: &Path, strategy: &str) -> Shop {
        Shop::with_router(dir, strategy, "listener")
    }

    /// `router`: "listener" (its default action) or "rule" (the api's path rule on it).
    fn with_router(dir: &Path, strategy: &str, router: &str) -> Shop {
        Shop::with_target(dir, strategy, router, "")
    }

    /// `with_router`, with `target_lines` added to the environment's target table.
    fn with_target(dir: &Path, strategy: &str, router: &str, target_lines: &str) -> Shop {
        let copy = copy_example(dir);
        let name = unique("ecs");
        let aws = moto(&["setup", &name]);
        let strings = |v: &Value| serde_json::to_string(v).unwrap();
        let target_groups = if strategy.contains("rolling") {
            format!("[{}]", strings(&aws["target_groups"][0]))
        } else {
            strings(&aws["target_groups"])
        };
        let manifest = std::fs::read_to_string(copy.join("slipway.toml"))
            .unwrap()
            .replace("name = \"shop\"", &format!("name = \"{name}\""));
        let manifest = format!(
            r#"{manifest}
[environments.aws]
registry = "team"
apps = ["api"]
strategy = {strategy}
replicas = {{ api = 2 }}
secrets = {{ DB_PASSWORD = "ssm:{parameter}", STRIPE_KEY = "secretsmanager:{name}/stripe" }}

[environments.aws.target]
kind = "ecs"
cluster = "{name}"
region = "eu-central-1"
subnets = {subnets}
security_groups = [{group}]
execution_role_arn = "arn:aws:iam::123456789012:role/{name}-execution"
task_role_arn = "arn:aws:iam::123456789012:role/{name}-task"
log_group = "/ecs/{name}"
steady_timeout = "30s"
{target_lines}

[environments.aws.target.apps.api]
listener = {listener}
target_groups = {target_groups}
"#,
            parameter = aws["parameter"].as_str().unwrap(),
            subnets = strings(&aws["subnets"]),
            group = strings(&aws["security_group"]),
            listener = strings(&aws[router]),
        );
        write(&copy, "slipway.toml", &manifest);
        write(
            &copy,
            "config/aws/api.env.j2",
            "DB_PASSWORD={{ secret.DB_PASSWORD }}\nSTRIPE_KEY={{ secret.STRIPE_KEY }}\nAPP_ENV={{ environment }}\nGREETING={{ vars.GREETING }}\n",
        );
        write(&copy, "config/aws/values.toml", "GREETING = \"first\"\n");
        prepare(&copy, &[]);
        Shop {
            dir: copy,
            cluster: name,
            router: aws[router].as_str().unwrap().to_owned(),
            aws,
            endpoint: endpoint(),
        }
    }

    fn slipway(&self, args: &[&str]) -> crate::Run {
        self.slipway_with(args, &[])
    }

    fn slipway_with(&self, args: &[&str], env: &[(&str, &str)]) -> crate::Run {
        run(with_aws(&mut slipway(&self.dir), &self.endpoint)
            .args(args)
            .envs(env.iter().copied()))
    }

    fn ok(&self, args: &[&str]) -> crate::Run {
        let result = self.slipway(args);
        assert_eq!(result.code, 0, "slipway {args:?}: {}", result.stderr);
        result
    }

    fn state(&self) -> Value {
        moto(&["state", &self.cluster, &self.router])
    }

    fn set_greeting(&self, greeting: &str) {
        write(
            &self.dir,
            "config/aws/values.toml",
            &format!("GREETING = \"{greeting}\"\n"),
        );
    }

    fn store_has_no_live_release(&self) -> bool {
        let status: Value =
            serde_json::from_str(&self.ok(&["status", "aws", "--output", "json"]).stdout).unwrap();
        status["live"].is_null()
    }

    fn weights(&self) -> (i64, i64) {
        let state = self.state();
        let weight = |i: usize| {
            state["weights"][self.aws["target_groups"][i].as_str().unwrap()]
                .as_i64()
                .unwrap_or(0)
        };
        (weight(0), weight(1))
    }
}

/// The services of an app (`base` and its colours) that ask for tasks, with how many.
fn services_with_tasks(state: &Value, base: &str) -> Vec<(String, i64)> {
    state["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with(base))
        .map(|(name, s)| (name.clone(), s["desiredCount"].as_i64().unwrap()))
        .filter(|(_, desired)| *desired > 0)
        .collect()
}

fn definition<'s>(state: &'s Value, service: &str) -> &'s Value {
    let arn = state["services"][service]["taskDefinition"]
        .as_str()
        .unwrap_or_else(|| panic!("no service {service} in {state:#}"));
    &state["taskDefinitions"][arn]
}

fn revision(state: &Value, service: &str) -> String {
    state["services"][service]["taskDefinition"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned()
}

fn env_value<'v>(container: &'v Value, name: &str) -> Option<&'v str> {
    container["environment"]
        .as_array()?
        .iter()
        .find(|pair| pair["name"] == name)
        .and_then(|pair| pair["value"].as_str())
}

/// Faults a real ECS produces and moto does not, injected by the front for services whose task
/// definition revision is `revision`.
#[derive(Debug, Clone, Default)]
enum Fault {
    #[default]
    None,
    /// New tasks keep stopping: the image cannot be pulled.
    TasksStop { revision: String },
    /// The deployment stays in progress with nothing running.
    NeverSteady { revision: String },
    /// The next `count` calls of `operation` are throttled.
    Throttle { operation: String, count: usize },
    /// GetAuthorizationToken issues a new token each call, the only one the ECR front takes.
    IssueTokens(Arc<Mutex<EcrTokens>>),
    /// A one-off task is started, and described as stopped with its `api` container having
    /// exited with `code` (moto's tasks never run).
    TaskExits { code: i64 },
    /// Calls of `operation` are refused for want of permission, and never reach moto.
    Deny { operation: String },
    /// Every service runs these tasks: (ARN, task definition ARN, last status) (moto's services
    /// start none).
    ServiceTasks {
        tasks: Vec<(String, String, String)>,
    },
}

/// The tokens an ECR front accepts: `current` (a whole `Authorization` value), for `uses_left`
/// more requests when set (then it has expired, until a new one is issued).
#[derive(Debug, Default)]
struct EcrTokens {
    current: String,
    uses_left: Option<usize>,
    issued: usize,
    /// How long the first token lasts, in requests.
    first_lasts: usize,
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An HTTP front for moto that records each AWS call's target and body, then forwards it, and
/// can answer as a misbehaving ECS would.
struct Recorder {
    address: String,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    fault: Arc<Mutex<Fault>>,
}

impl Recorder {
    fn start(upstream: &str) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let fault: Arc<Mutex<Fault>> = Arc::default();
        let (recorded, faults) = (calls.clone(), fault.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (recorded, faults) = (recorded.clone(), faults.clone());
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = forward(client, &upstream, &recorded, &faults);
                });
            }
        });
        Recorder {
            address,
            calls,
            fault,
        }
    }

    fn inject(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn bodies(&self, target: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with(target))
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// The faulty answer to `operation`, given moto's answer, or `None` to pass moto's on.
fn faulty(fault: &mut Fault, operation: &str, answer: &Value) -> Option<(u16, Value)> {
    match fault {
        Fault::None => None,
        Fault::IssueTokens(tokens) => {
            if operation != "GetAuthorizationToken" {
                return None;
            }
            use base64::Engine;
            let mut tokens = tokens.lock().unwrap();
            tokens.issued += 1;
            let password = format!("token-{}", tokens.issued);
            tokens.current = basic("AWS", &password);
            tokens.uses_left = (tokens.issued == 1).then_some(tokens.first_lasts);
            let expires = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 12 * 3600;
            Some((
                200,
                serde_json::json!({"authorizationData": [{
                    "authorizationToken": base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}")),
                    "expiresAt": expires,
                    "proxyEndpoint": "https://123456789012.dkr.ecr.eu-central-1.amazonaws.com"
                }]}),
            ))
        }
        Fault::Deny { operation: op } => (op.as_str() == operation).then(|| {
            (
                400,
                serde_json::json!({"__type": "AccessDeniedException", "message": format!("User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: logs:{operation}")}),
            )
        }),
        Fault::ServiceTasks { tasks } => match operation {
            "ListTasks" => Some((
                200,
                serde_json::json!({"taskArns": tasks.iter().map(|(arn, _, _)| arn).collect::<Vec<_>>()}),
            )),
            "DescribeTasks" => Some((
                200,
                serde_json::json!({"tasks": tasks.iter().map(|(arn, definition, status)| serde_json::json!({
                    "taskArn": arn,
                    "taskDefinitionArn": definition,
                    "lastStatus": status,
                    "containers": [{"name": "api"}],
                })).collect::<Vec<_>>(), "failures": []}),
            )),
            _ => None,
        },
        Fault::Throttle {
            operation: op,
            count,
        } => {
            if op.as_str() != operation || *count == 0 {
                return None;
            }
            *count -= 1;
            Some((
                400,
                serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
            ))
        }
        Fault::TaskExits { code } => {
            // moto cannot start a task whose memory is set on the task only (as Fargate's
            // are): the front starts it, and its container exits with `code`.
            const TASK: &str =
                "arn:aws:ecs:eu-central-1:123456789012:task/one-off/0123456789abcdef";
            let container = serde_json::json!([{"name": "api", "exitCode": *code}]);
            match operation {
                "RunTask" => Some((
                    200,
                    serde_json::json!({"tasks": [{"taskArn": TASK, "lastStatus": "PROVISIONING", "containers": [{"name": "api"}]}], "failures": []}),
                )),
                "DescribeTasks" => Some((
                    200,
                    serde_json::json!({"tasks": [{"taskArn": TASK, "lastStatus": "STOPPED", "stoppedReason": "Essential container in task exited", "containers": container}], "failures": []}),
                )),
                _ => None,
            }
        }
        Fault::TasksStop { revision } | Fault::NeverSteady { revision } => {
            let revision = format!(":{revision}");
            let stopping = matches!(fault, Fault::TasksStop { .. });
            let on_revision = |service: &Value| {
                service["taskDefinition"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(&revision))
            };
            match operation {
                "DescribeServices" => {
                    let mut answer = answer.clone();
                    for service in answer["services"].as_array_mut()? {
                        if !on_revision(service) {
                            continue;
                        }
                        service["runningCount"] = 0.into();
                        let definition = service["taskDefinition"].clone();
                        for deployment in service["deployments"].as_array_mut()? {
                            deployment["taskDefinition"] = definition.clone();
                            deployment["runningCount"] = 0.into();
                            deployment["rolloutState"] = "IN_PROGRESS".into();
                            deployment["failedTasks"] = if stopping { 3 } else { 0 }.into();
                        }
                    }
                    Some((200, answer))
                }
                "ListTasks" if stopping => Some((
                    200,
                    serde_json::json!({"taskArns": ["arn:aws:ecs:eu-central-1:123456789012:task/c/0123456789abcdef"]}),
                )),
                "DescribeTasks" if stopping => Some((
                    200,
                    serde_json::json!({"tasks": [{
                        "taskArn": "arn:aws:ecs:eu-central-1:123456789012:task/c/0123456789abcdef",
                        "lastStatus": "STOPPED",
                        "stoppedReason": "Essential container in task exited",
                        "containers": [{"name": "api", "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)"}]
                    }], "failures": []}),
                )),
                _ => None,
            }
        }
    }
}

/// One request per connection: the head and body read, `Connection: close` put in, the answer
/// copied back until the upstream closes (or replaced by a fault's).
fn forward(
    mut client: TcpStream,
    upstream: &str,
    recorded: &Mutex<Vec<(String, Value)>>,
    fault: &Mutex<Fault>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut target = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-amz-target:") {
            target = line["x-amz-target:".len()..].trim().to_owned();
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if !target.is_empty() {
        recorded.lock().unwrap().push((
            target.clone(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ));
    }
    let operation = target.rsplit('.').next().unwrap_or_default();
    let mut answer = Vec::new();
    // A throttled or refused call never reaches moto, as it changes nothing in AWS.
    let held_back = match &*fault.lock().unwrap() {
        Fault::Throttle {
            operation: op,
            count,
        } => op == operation && *count > 0,
        Fault::Deny { operation: op } => op == operation,
        _ => false,
    };
    if !held_back {
        let mut server = TcpStream::connect(upstream)?;
        server.write_all(&head)?;
        server.write_all(&body)?;
        server.read_to_end(&mut answer)?;
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    let moto_answer: Value = serde_json::from_slice(&answer[split..]).unwrap_or(Value::Null);
    let replaced = faulty(&mut fault.lock().unwrap(), operation, &moto_answer);
    if let Some((status, body)) = replaced {
        let body = body.to_string();
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        write!(
            client,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    } else {
        client.write_all(&answer)?;
    }
    client.flush()
}

#[test]
fn ecs_rolling_deploys_registers_pinned_task_definitions_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\", max_surge = 2 }");
    let recorder = Recorder::start(&shop.endpoint);
    shop.endpoint = recorder.address.clone();
    let service = format!("{}-aws-api", shop.cluster);

    // What a deploy would send, before anything exists.
    let rendered: Value = serde_json::from_str(&shop.ok(&["ecs", "render", "aws"]).stdout).unwrap();
    assert_eq!(rendered["api"]["family"], service);
    let diff = shop.ok(&["ecs", "diff", "aws"]);
    assert!(
        diff.stdout.contains("does not exist yet"),
        "{}",
        diff.stdout
    );

    shop.ok(&["deploy", "aws", "--yes"]);
    let state = shop.state();
    let first = definition(&state, &service).clone();
    let api = &first["containerDefinitions"][0];
    // The image is the pushed one, pinned by digest.
    let image = api["image"].as_str().unwrap();
    let (repository, digest) = image.split_once('@').expect("pinned by digest");
    assert!(digest.starts_with("sha256:"), "{image}");
    let inspected = crate::skopeo_inspect(true, image);
    assert!(
        inspected.status.success(),
        "{image} is not in the registry: {}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert!(
        repository.ends_with(&format!("/{}/api", shop.cluster)),
        "{image}"
    );
    // Secrets are references; their values appear nowhere in the task definition.
    let secrets: Vec<(String, String)> = api["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["valueFrom"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        vec![
            (
                "DB_PASSWORD".to_owned(),
                shop.aws["parameter_arn"].as_str().unwrap().to_owned()
            ),
            (
                "STRIPE_KEY".to_owned(),
                shop.aws["secret_arn"].as_str().unwrap().to_owned()
            ),
        ]
    );
    let whole = first.to_string();
    assert!(!whole.contains("ssm-secret-value"), "{whole}");
    assert!(!whole.contains("sm-secret-value"), "{whole}");
    assert_eq!(env_value(api, "APP_ENV"), Some("aws"));
    assert_eq!(env_value(api, "GREETING"), Some("first"));
    assert_eq!(api["portMappings"][0]["containerPort"], 8000);
    assert_eq!(
        api["logConfiguration"]["options"]["awslogs-group"],
        format!("/ecs/{}", shop.cluster)
    );
    assert_eq!(
        first["executionRoleArn"],
        format!("arn:aws:iam::123456789012:role/{}-execution", shop.cluster)
    );
    assert_eq!(first["requiresCompatibilities"][0], "FARGATE");
    assert_eq!(first["networkMode"], "awsvpc");
    // The service: its task definition, count, load balancer and network.
    let described = &state["services"][&service];
    assert_eq!(described["desiredCount"], 2);
    assert_eq!(described["launchType"], "FARGATE");
    assert_eq!(
        described["loadBalancers"][0]["targetGroupArn"],
        shop.aws["target_groups"][0]
    );
    assert_eq!(described["loadBalancers"][0]["containerPort"], 8000);
    assert_eq!(
        described["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        shop.aws["subnets"]
    );
    // The deployment configuration slipway asked for (moto does not keep it).
    let created = recorder.bodies("CreateService");
    assert_eq!(created.len(), 1, "{created:?}");
    let configuration = &created[0]["deploymentConfiguration"];
    assert_eq!(configuration["deploymentCircuitBreaker"]["enable"], true);
    assert_eq!(configuration["deploymentCircuitBreaker"]["rollback"], true);
    assert_eq!(configuration["minimumHealthyPercent"], 100);
    assert_eq!(configuration["maximumPercent"], 200);

    // A second release: a new revision with the new config; the service moves to it.
    shop.set_greeting("second");
    let diff = shop.ok(&["ecs", "diff", "aws"]);
    assert!(
        diff.stdout.contains("-           \"value\": \"first\""),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("+           \"value\": \"second\""),
        "{}",
        diff.stdout
    );
    shop.ok(&["deploy", "aws", "--yes"]);
    let state = shop.state();
    assert_eq!(revision(&state, &service), "2");
    let second = definition(&state, &service);
    assert_eq!(
        env_value(&second["containerDefinitions"][0], "GREETING"),
        Some("second")
    );
    let updated = recorder.bodies("UpdateService");
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert!(
        updated[0]["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with(":2")
    );

    // Rollback: the service is back on the first revision; the history says so.
    shop.ok(&["rollback", "aws"]);
    assert_eq!(revision(&shop.state(), &service), "1");
    let releases: Value =
        serde_json::from_str(&shop.ok(&["releases", "aws", "--output", "json"]).stdout).unwrap();
    let outcomes: Vec<(&str, &str)> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["strategy"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [("rolling", "rolled-back"), ("rolling", "live")]);
    assert!(
        releases[1]["apps"]["api"]["task_definition"]
            .as_str()
            .unwrap()
            .ends_with(&format!("task-definition/{service}:1"))
    );

    // A deploy of what already runs registers no revision and touches no service.
    shop.ok(&["deploy", "aws", "--yes"]);
    assert_eq!(revision(&shop.state(), &service), "3");
    let (registered, updated) = (
        recorder.bodies("RegisterTaskDefinition").len(),
        recorder.bodies("UpdateService").len(),
    );
    let again = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        again.stdout.contains("nothing to deploy"),
        "{}",
        again.stdout
    );
    assert_eq!(recorder.bodies("RegisterTaskDefinition").len(), registered);
    assert_eq!(recorder.bodies("UpdateService").len(), updated);
    assert_eq!(revision(&shop.state(), &service), "3");
}

#[test]
fn an_ecs_worker_runs_as_a_service_without_a_load_balancer_and_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    assert!(manifest.contains("apps = [\"api\"]"));
    let manifest = manifest.replace("apps = [\"api\"]", "apps = [\"api\", \"worker\"]")
        + "\n[apps.worker]\ndir = \"app/worker\"\nbase = \"python\"\nconfig = \"api\"\ncmd = [\"python3\", \"-m\", \"worker\"]\nstop_signal = \"SIGINT\"\nstop_grace_period = \"45s\"\n";
    write(&shop.dir, "slipway.toml", &manifest);
    write(
        &shop.dir,
        "app/worker/worker.py",
        "import time\nwhile True:\n    time.sleep(1)\n",
    );
    shop.ok(&["build", "worker"]);
    shop.ok(&["deploy", "aws", "--yes"]);

    let state = shop.state();
    let worker = format!("{}-aws-worker", shop.cluster);
    let described = &state["services"][&worker];
    assert_eq!(described["desiredCount"], 1, "{described}");
    assert!(
        described["loadBalancers"]
            .as_array()
            .is_none_or(|balancers| balancers.is_empty()),
        "a worker takes no traffic: {described}"
    );
    let container = &definition(&state, &worker)["containerDefinitions"][0];
    assert_eq!(container["stopTimeout"], 45, "{container}");
    assert!(
        container
            .get("portMappings")
            .is_none_or(|p| p.as_array().is_some_and(Vec::is_empty))
    );
    // The api beside it keeps its load balancer.
    let api = &state["services"][&format!("{}-aws-api", shop.cluster)];
    assert_eq!(
        api["loadBalancers"][0]["targetGroupArn"],
        shop.aws["target_groups"][0]
    );
}

#[test]
fn a_one_off_task_runs_the_live_task_definition_on_ecs_and_returns_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let recorder = Recorder::start(&shop.endpoint);
    shop.endpoint = recorder.address.clone();
    let migrate = ["run", "aws", "api", "--", "python3", "-m", "api.migrate"];

    let early = shop.slipway(&migrate);
    assert_ne!(early.code, 0);
    assert!(
        early.stderr.contains("`aws` has no live release"),
        "{}",
        early.stderr
    );
    assert!(recorder.bodies("RunTask").is_empty());

    shop.ok(&["deploy", "aws", "--yes"]);
    recorder.inject(Fault::TaskExits { code: 3 });
    // What the container writes, where ECS's awslogs driver puts it for the task the front
    // starts (task ID 0123456789abcdef).
    moto(&[
        "put-logs",
        &format!("/ecs/{}", shop.cluster),
        "api/api/0123456789abcdef",
        r#"[[30, "migrating 3 tables"], [20, "table orders: failed"]]"#,
    ]);
    let result = shop.slipway(&migrate);
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert_eq!(
        result.stdout, "migrating 3 tables\ntable orders: failed\n",
        "the task's output, after it stopped: {}",
        result.stderr
    );
    let runs = recorder.bodies("RunTask");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let container = &runs[0]["overrides"]["containerOverrides"][0];
    assert_eq!(container["name"], "api");
    assert_eq!(
        container["command"],
        serde_json::json!(["python3", "-m", "api.migrate"])
    );
    assert!(
        runs[0]["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with(&format!("task-definition/{}-aws-api:1", shop.cluster)),
        "the live release's revision: {}",
        runs[0]["taskDefinition"]
    );
    assert_eq!(
        runs[0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        shop.aws["subnets"]
    );
    assert!(
        result.stderr.contains(&format!(
            "CloudWatch Logs group /ecs/{}, stream api/api/0123456789abcdef",
            shop.cluster
        )),
        "{}",
        result.stderr
    );
}

#[test]
fn an_ecs_deploy_creates_a_missing_log_group_and_stops_first_when_it_may_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let recorder = Recorder::start(&shop.endpoint);
    shop.endpoint = recorder.address.clone();
    let group = format!("/ecs/{}", shop.cluster);
    let groups = || moto(&["log-groups", &group]);
    assert_eq!(groups(), serde_json::json!([]));

    // Credentials that may not create it: nothing is pushed, registered or started.
    recorder.inject(Fault::Deny {
        operation: "CreateLogGroup".into(),
    });
    let refused = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(&format!("`{group}`"))
            && refused.stderr.contains("`logs:CreateLogGroup`")
            && refused.stderr.contains("aws logs create-log-group"),
        "{}",
        refused.stderr
    );
    assert!(recorder.bodies("RegisterTaskDefinition").is_empty());
    assert!(recorder.bodies("CreateService").is_empty());
    assert!(shop.state()["services"].as_object().unwrap().is_empty());
    assert_eq!(groups(), serde_json::json!([]));

    // With leave to: the deploy creates it and says so.
    recorder.inject(Fault::None);
    let deployed = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        deployed
            .stderr
            .contains(&format!("created the CloudWatch Logs group {group}")),
        "{}",
        deployed.stderr
    );
    assert_eq!(groups(), serde_json::json!([group]));
    assert_eq!(recorder.bodies("CreateLogGroup").len(), 2);

    // Once it exists, the next deploy leaves it alone.
    shop.set_greeting("second");
    let again = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        !again.stderr.contains("created the CloudWatch"),
        "{}",
        again.stderr
    );
    assert_eq!(recorder.bodies("CreateLogGroup").len(), 2);
}

#[test]
fn slipway_logs_on_ecs_reads_the_live_tasks_streams_merged_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let recorder = Recorder::start(&shop.endpoint);
    shop.endpoint = recorder.address.clone();
    shop.ok(&["deploy", "aws", "--yes"]);
    let service = format!("{}-aws-api", shop.cluster);
    let revision = shop.state()["services"][&service]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = format!("/ecs/{}", shop.cluster);
    let task = |id: &str| {
        format!(
            "arn:aws:ecs:eu-central-1:123456789012:task/{}/{id}",
            shop.cluster
        )
    };
    let (first, second, stale) = (
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "ffeeddccbbaa99887766554433221100",
        "1234567890abcdef1234567890abcdef",
    );
    // Two tasks of the live revision, and one of a revision no release runs any more.
    recorder.inject(Fault::ServiceTasks {
        tasks: vec![
            (task(first), revision.clone(), "RUNNING".into()),
            (task(second), revision.clone(), "RUNNING".into()),
            (task(stale), format!("{revision}0"), "RUNNING".into()),
        ],
    });
    let put = |id: &str, events: &str| {
        moto(&["put-logs", &group, &format!("api/api/{id}"), events]);
    };
    put(
        first,
        r#"[[7200, "first: two hours ago"], [600, "first: started"], [300, "first: GET /orders 200"]]"#,
    );
    put(
        second,
        r#"[[450, "second: started"], [150, "second: GET /health 200"]]"#,
    );
    put(stale, r#"[[400, "stale: still draining"]]"#);

    let lines = |args: &[&str]| -> Vec<String> {
        let result = shop.ok(args);
        result.stdout.lines().map(str::to_owned).collect()
    };
    assert_eq!(
        lines(&["logs", "aws", "api", "--since", "1h"]),
        [
            "0a1b2c3d/api | first: started",
            "ffeeddcc/api | second: started",
            "0a1b2c3d/api | first: GET /orders 200",
            "ffeeddcc/api | second: GET /health 200",
        ]
    );
    // The last line of each task, in time order; every app when none is named.
    assert_eq!(
        lines(&["logs", "aws", "--tail", "1"]),
        [
            "0a1b2c3d/api | first: GET /orders 200",
            "ffeeddcc/api | second: GET /health 200",
        ]
    );
    // Without --since, as far back as the tail goes.
    assert_eq!(
        lines(&["logs", "aws", "api"])[0],
        "0a1b2c3d/api | first: two hours ago"
    );
    let unknown = shop.slipway(&["logs", "aws", "web"]);
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("does not run `web`"),
        "{}",
        unknown.stderr
    );

    // --follow: the lines so far, then what the tasks write, until none of them runs.
    /// The follower, killed when the test ends early.
    struct Follower(std::process::Child);
    impl Drop for Follower {
        fn drop(&mut self) {
            if self.0.try_wait().ok().flatten().is_none() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .current_dir(&shop.dir)
        .args(["logs", "aws", "api", "--since", "1h", "--follow"])
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", &shop.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Follower)
        .unwrap();
    let stdout = BufReader::new(follow.0.stdout.take().unwrap());
    let (sender, followed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let next = || {
        followed
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a followed line")
    };
    let so_far: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(so_far[3], "ffeeddcc/api | second: GET /health 200");
    put(second, r#"[[0, "second: POST /orders 201"]]"#);
    assert_eq!(next(), "ffeeddcc/api | second: POST /orders 201");
    recorder.inject(Fault::ServiceTasks {
        tasks: vec![
            (task(first), revision.clone(), "STOPPED".into()),
            (task(second), revision.clone(), "STOPPED".into()),
        ],
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let status = loop {
        if let Some(status) = follow.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "--follow went on after every task had stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn an_ecs_switch_from_rolling_to_blue_green_leaves_one_service_with_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"blue-green\" }");
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    let both = serde_json::to_string(&shop.aws["target_groups"]).unwrap();
    let first = format!(
        "[{}]",
        serde_json::to_string(&shop.aws["target_groups"][0]).unwrap()
    );
    let rolling = manifest
        .replace(
            "strategy = { kind = \"blue-green\" }",
            "strategy = { kind = \"rolling\" }",
        )
        .replace(
            &format!("target_groups = {both}"),
            &format!("target_groups = {first}"),
        );
    assert_ne!(rolling, manifest);
    write(&shop.dir, "slipway.toml", &rolling);
    shop.ok(&["deploy", "aws", "--yes"]);
    let base = format!("{}-aws-api", shop.cluster);
    assert_eq!(shop.state()["services"][&base]["desiredCount"], 2);

    write(&shop.dir, "slipway.toml", &manifest);
    shop.set_greeting("second");
    let switched = shop.slipway(&["deploy", "aws", "--yes"]);
    let state = shop.state();
    let running = services_with_tasks(&state, &base);
    assert_eq!(switched.code, 0, "{}", switched.stderr);
    assert_eq!(running.len(), 1, "one service serves api: {running:?}");
    assert_ne!(running[0].0, base, "a colour serves api now");
    assert_eq!(revision(&state, &running[0].0), "2");

    // Back across the switch: release 1's revision serves again, on one service.
    shop.ok(&["rollback", "aws"]);
    let state = shop.state();
    let running: Vec<String> = services_with_tasks(&state, &base)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(running.len(), 1, "one service serves api: {running:?}");
    assert_eq!(revision(&state, &running[0]), "1");
}

#[test]
fn an_ecs_switch_from_blue_green_to_rolling_leaves_one_service_with_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"blue-green\" }");
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    shop.ok(&["deploy", "aws", "--yes"]);
    shop.set_greeting("second");
    shop.ok(&["deploy", "aws", "--yes"]);
    let base = format!("{}-aws-api", shop.cluster);
    // Green serves release 2; the listener sends it everything.
    assert_eq!(shop.weights(), (0, 100));

    let both = serde_json::to_string(&shop.aws["target_groups"]).unwrap();
    let first = format!(
        "[{}]",
        serde_json::to_string(&shop.aws["target_groups"][0]).unwrap()
    );
    let rolling = manifest
        .replace(
            "strategy = { kind = \"blue-green\" }",
            "strategy = { kind = \"rolling\" }",
        )
        .replace(
            &format!("target_groups = {both}"),
            &format!("target_groups = {first}"),
        );
    write(&shop.dir, "slipway.toml", &rolling);
    shop.set_greeting("third");
    let switched = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_eq!(switched.code, 0, "{}", switched.stderr);
    let state = shop.state();
    let running = services_with_tasks(&state, &base);
    assert_eq!(running.len(), 1, "one service serves api: {running:?}");
    assert_eq!(
        running[0].0, base,
        "the service without a colour serves api"
    );
    assert_eq!(revision(&state, &base), "3");
    assert_eq!(
        shop.weights(),
        (100, 0),
        "the listener sends the traffic to the rolling service's target group"
    );
}

#[test]
fn ecs_blue_green_moves_the_listener_weights_and_rolls_back_on_the_old_colour() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"blue-green\" }");
    let blue = format!("{}-aws-api-blue", shop.cluster);
    let green = format!("{}-aws-api-green", shop.cluster);

    shop.ok(&["deploy", "aws", "--yes"]);
    let state = shop.state();
    assert_eq!(revision(&state, &blue), "1");
    assert_eq!(state["services"][&blue]["desiredCount"], 2);
    assert_eq!(
        state["services"][&blue]["loadBalancers"][0]["targetGroupArn"],
        shop.aws["target_groups"][0]
    );
    assert!(state["services"].get(&green).is_none(), "{state:#}");
    assert_eq!(shop.weights(), (100, 0));

    shop.set_greeting("second");
    shop.ok(&["deploy", "aws", "--yes"]);
    let state = shop.state();
    assert_eq!(revision(&state, &green), "2");
    assert_eq!(state["services"][&green]["desiredCount"], 2);
    assert_eq!(
        state["services"][&green]["loadBalancers"][0]["targetGroupArn"],
        shop.aws["target_groups"][1]
    );
    assert_eq!(state["services"][&blue]["desiredCount"], 0);
    assert_eq!(shop.weights(), (0, 100));
    let status: Value =
        serde_json::from_str(&shop.ok(&["status", "aws", "--output", "json"]).stdout).unwrap();
    assert_eq!(status["live"]["id"], 2);
    let services: Vec<(String, i64, i64)> = status["apps"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["desired"].as_i64().unwrap(),
                s["weight"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(services, [(blue.clone(), 0, 0), (green.clone(), 2, 100)]);
    // `ecs diff` compares with the colour the listener serves.
    shop.set_greeting("third");
    let diff = shop.ok(&["ecs", "diff", "aws"]);
    assert!(diff.stdout.contains(&green), "{}", diff.stdout);
    assert!(
        diff.stdout.contains("-           \"value\": \"second\""),
        "{}",
        diff.stdout
    );
    shop.set_greeting("second");

    shop.ok(&["rollback", "aws"]);
    let state = shop.state();
    assert_eq!(revision(&state, &blue), "1");
    assert_eq!(state["services"][&blue]["desiredCount"], 2);
    assert_eq!(state["services"][&green]["desiredCount"], 0);
    assert_eq!(shop.weights(), (100, 0));
}

#[test]
fn ecs_canary_moves_the_weights_of_a_listener_rule_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::with_router(
        dir.path(),
        "{ kind = \"canary\", steps = [10, 50, 100], pause = \"1s\" }",
        "rule",
    );
    shop.ok(&["deploy", "aws", "--yes"]);
    shop.set_greeting("second");
    let result = shop.ok(&["deploy", "aws", "--yes"]);
    let steps: Vec<&str> = result
        .stderr
        .lines()
        .filter(|l| l.contains("api traffic:"))
        .collect();
    assert_eq!(
        steps,
        [
            "  api traffic: green 10%, blue 90%",
            "  api traffic: green 50%, blue 50%",
            "  api traffic: green 100%, blue 0%",
        ],
        "{}",
        result.stderr
    );
    assert_eq!(shop.weights(), (0, 100));
}

#[test]
fn ecs_bad_input_is_refused_before_anything_changes_in_aws() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    let nothing_registered = || {
        let families = moto(&["families", &shop.cluster]);
        assert_eq!(
            families,
            Value::Array(Vec::new()),
            "something was registered"
        );
        assert_eq!(shop.state()["services"], serde_json::json!({}));
    };

    // An app the environment does not run.
    let result = shop.slipway(&["ecs", "render", "aws", "--app", "cart"]);
    assert_ne!(result.code, 0);
    assert!(
        result
            .stderr
            .contains("`aws` runs no app `cart`; it runs api"),
        "{}",
        result.stderr
    );
    assert!(!result.stderr.contains("panicked"), "{}", result.stderr);

    // An unknown cluster.
    write(
        &shop.dir,
        "slipway.toml",
        &manifest.replace(
            &format!("cluster = \"{}\"", shop.cluster),
            "cluster = \"no-such-cluster\"",
        ),
    );
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0);
    assert!(
        result
            .stderr
            .contains("the ECS cluster `no-such-cluster` does not exist"),
        "{}",
        result.stderr
    );
    nothing_registered();

    // A secret reference that does not exist.
    write(
        &shop.dir,
        "slipway.toml",
        &manifest.replace("/db_password\"", "/no-such-parameter\""),
    );
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("no-such-parameter` does not exist"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("DB_PASSWORD"), "{}", result.stderr);
    nothing_registered();

    // No execution role, though the tasks have secrets: refused by the manifest check.
    let without_role: String = manifest
        .lines()
        .filter(|l| !l.starts_with("execution_role_arn"))
        .collect::<Vec<_>>()
        .join("\n");
    write(&shop.dir, "slipway.toml", &without_role);
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0);
    assert!(
        result
            .stderr
            .contains("environments.aws.target.execution_role_arn"),
        "{}",
        result.stderr
    );
    nothing_registered();

    // A secret inside a longer value cannot be a reference.
    write(&shop.dir, "slipway.toml", &manifest);
    write(
        &shop.dir,
        "config/aws/api.env.j2",
        "DATABASE_URL=postgresql://app:{{ secret.DB_PASSWORD }}@db/shop\nSTRIPE_KEY={{ secret.STRIPE_KEY }}\n",
    );
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("config/aws/api.env.j2")
            && result
                .stderr
                .contains("`DATABASE_URL` mixes the secret DB_PASSWORD"),
        "{}",
        result.stderr
    );
    nothing_registered();
    let releases: Value =
        serde_json::from_str(&shop.ok(&["releases", "aws", "--output", "json"]).stdout).unwrap();
    assert_eq!(releases, serde_json::json!([]));
}

#[test]
fn ecs_failing_deployments_are_rolled_back_with_the_stopped_tasks_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let front = Recorder::start(&shop.endpoint);
    shop.endpoint = front.address.clone();
    let service = format!("{}-aws-api", shop.cluster);

    // Throttled calls are retried by the SDK; the deploy goes through.
    front.inject(Fault::Throttle {
        operation: "RegisterTaskDefinition".into(),
        count: 2,
    });
    shop.ok(&["deploy", "aws", "--yes"]);
    assert_eq!(front.bodies("RegisterTaskDefinition").len(), 3);
    assert_eq!(revision(&shop.state(), &service), "1");

    // The new tasks keep stopping: slipway gives up before the circuit breaker would, shows why,
    // and puts the service back on the live release's revision.
    front.inject(Fault::TasksStop {
        revision: "2".into(),
    });
    shop.set_greeting("broken image");
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.contains("CannotPullContainerError"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("rolled back") && result.stderr.contains("r1 is live"),
        "{}",
        result.stderr
    );
    assert_eq!(revision(&shop.state(), &service), "1");

    // A deployment that never settles: rolled back after the environment's steady timeout.
    front.inject(Fault::NeverSteady {
        revision: "3".into(),
    });
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    write(
        &shop.dir,
        "slipway.toml",
        &manifest.replace("steady_timeout = \"30s\"", "steady_timeout = \"2s\""),
    );
    shop.set_greeting("slow");
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.contains("no steady state after 2s"),
        "{}",
        result.stderr
    );
    assert_eq!(revision(&shop.state(), &service), "1");

    let releases: Value =
        serde_json::from_str(&shop.ok(&["releases", "aws", "--output", "json"]).stdout).unwrap();
    let outcomes: Vec<&str> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["rolled-back", "rolled-back", "live"]);
}

/// A registry that behaves like ECR in front of the test bed's registry: Basic auth with the
/// user `AWS` and the token GetAuthorizationToken gives (moto's), no Location header on a
/// manifest push, no cross-repository mounts. It records each request it is sent.
struct EcrFront {
    address: String,
    seen: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl EcrFront {
    /// A front that takes moto's fixed token.
    fn start() -> EcrFront {
        EcrFront::with_tokens(Arc::new(Mutex::new(EcrTokens {
            current: basic("AWS", "123456789012-auth-token"),
            ..EcrTokens::default()
        })))
    }

    fn with_tokens(tokens: Arc<Mutex<EcrTokens>>) -> EcrFront {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let upstream = std::env::var("SLIPWAY_TEST_REGISTRY").expect("the test bed's registry");
        let expected = tokens;
        let real = basic(
            &std::env::var("SLIPWAY_TEST_REGISTRY_USER").unwrap(),
            &std::env::var("SLIPWAY_TEST_REGISTRY_PASSWORD").unwrap(),
        );
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        runtime.spawn(async move {
            let client = hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build_http::<hyper::body::Incoming>();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (client, log, expected, real, upstream) = (
                    client.clone(),
                    log.clone(),
                    expected.clone(),
                    real.clone(),
                    upstream.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                        let (client, log, expected, real, upstream) = (
                            client.clone(),
                            log.clone(),
                            expected.clone(),
                            real.clone(),
                            upstream.clone(),
                        );
                        async move {
                            let line = format!("{} {}", request.method(), request.uri());
                            let authorized = {
                                let mut tokens = expected.lock().unwrap();
                                let presented = request
                                    .headers()
                                    .get("authorization")
                                    .is_some_and(|v| v.as_bytes() == tokens.current.as_bytes());
                                match tokens.uses_left {
                                    Some(0) => false,
                                    Some(left) if presented => {
                                        tokens.uses_left = Some(left - 1);
                                        true
                                    }
                                    _ => presented,
                                }
                            };
                            log.lock().unwrap().push(format!(
                                "{line}{}",
                                if authorized { "" } else { " (no login)" }
                            ));
                            if !authorized {
                                let mut answer = hyper::Response::new(
                                    http_body_util::Full::new(hyper::body::Bytes::from_static(b"{\"errors\":[{\"code\":\"DENIED\"}]}"))
                                        .map_err(|never| match never {})
                                        .boxed(),
                                );
                                *answer.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                                answer.headers_mut().insert(
                                    "www-authenticate",
                                    "Basic realm=\"https://123456789012.dkr.ecr.eu-central-1.amazonaws.com/\",service=\"ecr.amazonaws.com\"".parse().unwrap(),
                                );
                                return Ok::<_, hyper::Error>(answer);
                            }
                            // No cross-repository mounts: a mount request starts a plain upload.
                            let path_and_query = match request.uri().query() {
                                Some(query) if query.contains("mount=") => request.uri().path().to_owned(),
                                _ => request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                            };
                            let manifest_push = request.method() == hyper::Method::PUT
                                && request.uri().path().contains("/manifests/");
                            *request.uri_mut() = format!("http://{upstream}{path_and_query}").parse().unwrap();
                            request.headers_mut().insert("authorization", real.parse().unwrap());
                            let mut answer = match client.request(request).await {
                                Ok(answer) => answer.map(|b| b.boxed()),
                                Err(error) => {
                                    let mut answer = hyper::Response::new(
                                        http_body_util::Full::new(hyper::body::Bytes::from(error.to_string()))
                                            .map_err(|never| match never {})
                                            .boxed(),
                                    );
                                    *answer.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                                    return Ok(answer);
                                }
                            };
                            if manifest_push {
                                answer.headers_mut().remove("location");
                            }
                            Ok(answer)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        EcrFront {
            address,
            seen,
            _runtime: runtime,
        }
    }
}

#[test]
fn a_push_to_ecr_logs_in_with_the_aws_token_and_copes_with_its_quirks() {
    let dir = tempfile::tempdir().unwrap();
    let front = EcrFront::start();
    let (shop, name) = ecr_shop(
        dir.path(),
        "ecrpush",
        &front.address,
        "create_repositories = true\n",
    );
    let push = |shop: &Path| {
        run(with_aws(&mut slipway(shop), &endpoint()).args([
            "push",
            "api",
            "--registry",
            "ecr",
            "--tag",
            "r1",
            "--output",
            "json",
        ]))
    };
    let result = push(&shop);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let pushed: Value = serde_json::from_str(&result.stdout).unwrap();
    let digest = pushed[0]["digest"].as_str().unwrap();
    // The image is in the registry behind the front, by digest and by tag.
    let registry = std::env::var("SLIPWAY_TEST_REGISTRY").unwrap();
    for reference in [
        format!("{registry}/{name}/api@{digest}"),
        format!("{registry}/{name}/api:r1"),
    ] {
        let inspected = crate::skopeo_inspect(true, &reference);
        assert!(
            inspected.status.success(),
            "{reference}: {}",
            String::from_utf8_lossy(&inspected.stderr)
        );
    }
    let seen = front.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("PUT /v2/") && line.contains("/manifests/r1")),
        "{seen:#?}"
    );
    // Only the first request of a client goes without the login: the token was used.
    let refused = seen.iter().filter(|l| l.ends_with("(no login)")).count();
    assert!(refused <= 2, "{seen:#?}");
    assert!(!result.stderr.contains("123456789012-auth-token"));
    // The repository was created first, scanned on push, with a lifecycle policy.
    let created = moto(&["repository", &format!("{name}/api")]);
    assert_eq!(
        created["repository"]["imageScanningConfiguration"]["scanOnPush"],
        true
    );
    assert_eq!(
        created["lifecycle"]["rules"][0]["selection"]["countType"],
        "imageCountMoreThan"
    );

    // With AWS out of reach, the push fails and says why.
    let result = run(with_aws(&mut slipway(&shop), "http://127.0.0.1:9")
        .args(["push", "api", "--registry", "ecr"])
        .env("AWS_MAX_ATTEMPTS", "1"));
    assert_ne!(result.code, 0);
    assert!(result.stderr.contains("ECR login"), "{}", result.stderr);
}

#[test]
fn ecs_import_writes_an_environment_from_task_definition_files() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let fixtures = repo_root().join("crates/slipway/tests/it/aws/import");
    let task_definitions = fixtures.join("task-definitions");
    let services = fixtures.join("service-definitions");
    let import = |extra: &[&str]| {
        run(slipway(&shop)
            .args(["ecs", "import", "--env", "aws"])
            .arg(&task_definitions)
            .arg("--services")
            .arg(&services)
            .args(extra))
    };
    let before = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let dry = import(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        std::fs::read_to_string(shop.join("slipway.toml")).unwrap(),
        before
    );
    assert!(!shop.join("config/aws").exists());

    let result = import(&[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    // The mutable tag and the sidecar are pointed out.
    assert!(
        result.stderr.contains("runs the mutable tag"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("`xray`"), "{}", result.stderr);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    for line in [
        "[environments.aws.secrets]",
        "AWS_SECRET_ACCESS_KEY = \"ssm:/shop/backend-flask/AWS_SECRET_ACCESS_KEY\"",
        "CONNECTION_URL = \"secretsmanager:shop/prod/connection-url\"",
        "cluster = \"shop\"",
        "region = \"ca-central-1\"",
        "launch_type = \"FARGATE\"",
        "subnets = [\"subnet-0462b87709683ccaa\", \"subnet-066a53dd88d557b05\"]",
        "assign_public_ip = true",
        "execution_role_arn = \"arn:aws:iam::123456789012:role/shopTaskExecutionRole\"",
        "log_group = \"shop\"",
        "[environments.aws.target.apps.api]\nservice = \"backend-flask\"\nfamily = \"shop-backend\"",
        "[environments.aws.target.apps.web]\nservice = \"shop-frontend\"",
    ] {
        assert!(manifest.contains(line), "`{line}` missing in:\n{manifest}");
    }
    let api = std::fs::read_to_string(shop.join("config/aws/api.env.j2")).unwrap();
    assert!(api.contains("OTEL_SERVICE_NAME=backend-flask"), "{api}");
    assert!(
        api.contains("CONNECTION_URL={{ secret.CONNECTION_URL }}"),
        "{api}"
    );
    // The project still loads, and the new environment's config renders (as references).
    let explain = run(slipway(&shop).args(["config", "explain", "aws", "--output", "json"]));
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    assert!(
        explain.stdout.contains("FRONTEND_URL"),
        "{}",
        explain.stdout
    );

    // Importing again into the same environment merges what is already there: nothing changes.
    let again = import(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(shop.join("slipway.toml")).unwrap(),
        manifest
    );
}

#[test]
fn a_scaffolded_stack_is_valid_cloudformation_and_takes_a_blue_green_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let name = unique("scaffold");
    let base = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .replace("name = \"shop\"", &format!("name = \"{name}\""));
    // The environment as a team starts it: the names it wants, no ARNs yet (and so no secrets:
    // they need the execution role the stack makes).
    let environment = |target_rest: &str| {
        let secrets = if target_rest.contains("execution_role_arn") {
            format!(
                "secrets = {{ DB_PASSWORD = \"ssm:/{name}/db_password\", STRIPE_KEY = \"secretsmanager:{name}/stripe\" }}"
            )
        } else {
            String::new()
        };
        format!(
            r#"{base}
[environments.aws]
registry = "team"
apps = ["api", "web"]
strategy = {{ kind = "blue-green" }}
{secrets}

[environments.aws.target]
kind = "ecs"
cluster = "{name}"
region = "eu-central-1"
log_group = "/ecs/{name}"
{target_rest}
"#
        )
    };
    write(&shop, "slipway.toml", &environment(""));
    write(
        &shop,
        "config/aws/api.env.j2",
        "DB_PASSWORD={{ secret.DB_PASSWORD }}\nSTRIPE_KEY={{ secret.STRIPE_KEY }}\nAPP_ENV={{ environment }}\nGREETING=hello\n",
    );
    let scaffold = run(slipway(&shop).args(["aws", "scaffold", "aws"]));
    assert_eq!(scaffold.code, 0, "{}", scaffold.stderr);
    let template_file = dir.path().join("template.json");
    std::fs::write(&template_file, &scaffold.stdout).unwrap();
    let template: Value = serde_json::from_str(&scaffold.stdout).unwrap();
    assert_eq!(
        template["Resources"]["RepositoryApi"]["Properties"]["ImageScanningConfiguration"]["ScanOnPush"],
        true
    );

    // Valid against the CloudFormation resource specification (cfn-lint, from PyPI).
    let lint = std::process::Command::new(
        std::env::var("SLIPWAY_CFN_LINT")
            .expect("SLIPWAY_CFN_LINT is not set: run the tests through scripts/test"),
    )
    .arg(&template_file)
    .output()
    .expect("cfn-lint runs");
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // Applied (on moto), its outputs complete the environment, which then deploys.
    let stack = moto(&["stack", &name, template_file.to_str().unwrap()]);
    assert_eq!(stack["status"], "CREATE_COMPLETE", "{stack:#}");
    let outputs = &stack["outputs"];
    let groups = |app: &str| {
        let joined = outputs[format!("{app}TargetGroups")].as_str().unwrap();
        serde_json::to_string(&joined.split(',').collect::<Vec<_>>()).unwrap()
    };
    let quoted = |key: &str| serde_json::to_string(&outputs[key]).unwrap();
    write(
        &shop,
        "slipway.toml",
        &environment(&format!(
            "execution_role_arn = {}\ntask_role_arn = {}\nsubnets = {}\nsecurity_groups = [{}]\n\n[environments.aws.target.apps.api]\nlistener = {}\ntarget_groups = {}\n\n[environments.aws.target.apps.web]\nlistener = {}\ntarget_groups = {}\n",
            quoted("ExecutionRoleArn"),
            quoted("TaskRoleArn"),
            serde_json::to_string(&stack["subnets"]).unwrap(),
            quoted("TaskSecurityGroup"),
            quoted("ApiListener"),
            groups("Api"),
            quoted("WebListener"),
            groups("Web"),
        )),
    );
    prepare(&shop, &[]);
    let deploy = run(with_aws(&mut slipway(&shop), &endpoint()).args(["deploy", "aws", "--yes"]));
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    // Each app's own rule went to blue.
    for app in ["Api", "Web"] {
        let router = outputs[format!("{app}Listener")].as_str().unwrap();
        let state = moto(&["state", &name, router]);
        let blue = outputs[format!("{app}TargetGroups")]
            .as_str()
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert_eq!(state["weights"][blue], 100, "{app}: {state:#}");
        let service = format!("{name}-aws-{}-blue", app.to_lowercase());
        assert_eq!(
            state["services"][&service]["loadBalancers"][0]["targetGroupArn"], blue,
            "{state:#}"
        );
    }
}

#[test]
fn an_ecr_token_that_expires_mid_push_is_renewed_and_the_push_completes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Arc::new(Mutex::new(EcrTokens {
        first_lasts: 3,
        ..EcrTokens::default()
    }));
    let front = EcrFront::with_tokens(tokens.clone());
    let aws = Recorder::start(&endpoint());
    aws.inject(Fault::IssueTokens(tokens.clone()));
    let (shop, name) = ecr_shop(dir.path(), "ecrexpiry", &front.address, "");
    let result = run(with_aws(&mut slipway(&shop), &aws.address).args([
        "push",
        "api",
        "--registry",
        "ecr",
        "--tag",
        "r1",
        "--output",
        "json",
    ]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let logins = aws.bodies("GetAuthorizationToken").len();
    assert!(logins >= 2, "the token was not renewed ({logins} login(s))");
    let seen = front.seen.lock().unwrap().clone();
    // Refused after the first token's three requests, then taken again with the new one.
    let first_refusal_after_use = seen
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, l)| l.ends_with("(no login)"))
        .map(|(i, _)| i)
        .expect("the front refused the expired token");
    assert!(
        seen[first_refusal_after_use..]
            .iter()
            .any(|l| l.contains("/manifests/r1") && !l.ends_with("(no login)")),
        "{seen:#?}"
    );
    let registry = std::env::var("SLIPWAY_TEST_REGISTRY").unwrap();
    let inspected = crate::skopeo_inspect(true, &format!("{registry}/{name}/api:r1"));
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
}

#[test]
fn aws_secrets_are_fetched_when_a_docker_environment_renders_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let name = unique("render");
    let aws = moto(&["setup", &name]);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let stage = "[environments.stage]\npublish = { web = \"127.0.0.1:8081\" }\nsecrets = { DB_PASSWORD = \"env:SHOP_DB_PASSWORD\" }";
    assert!(manifest.contains(stage), "the stage environment moved");
    let with_ssm = |parameter: &str| {
        manifest.replace(
            stage,
            &format!(
                "[environments.stage]\npublish = {{ web = \"127.0.0.1:8081\" }}\nsecrets = {{ DB_PASSWORD = \"ssm:{parameter}\" }}"
            ),
        )
    };
    let render = |shop: &Path, command: &[&str]| {
        run(with_aws(&mut slipway(shop), &endpoint()).args(command))
    };
    write(
        &shop,
        "slipway.toml",
        &with_ssm(aws["parameter"].as_str().unwrap()),
    );
    let result = render(&shop, &["config", "render", "stage"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let rendered = shop.join(".slipway/config/stage/api.env");
    let text = std::fs::read_to_string(&rendered).unwrap();
    let value = format!("ssm-secret-value-{name}");
    assert!(text.contains(&format!("app:{value}@")), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&rendered).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let explain = render(&shop, &["config", "explain", "stage"]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    assert!(!explain.stdout.contains(&value), "{}", explain.stdout);

    // A parameter that does not exist: named, and nothing rendered.
    std::fs::remove_file(&rendered).unwrap();
    write(&shop, "slipway.toml", &with_ssm("/no/such/parameter"));
    let result = render(&shop, &["config", "render", "stage"]);
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("/no/such/parameter` does not exist"),
        "{}",
        result.stderr
    );
    assert!(!rendered.exists());
}

#[test]
fn ecs_own_blue_green_canary_and_linear_deployments_are_requested_with_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::with_target(
        dir.path(),
        "{ kind = \"blue-green\", bake = \"2m\" }",
        "rule",
        "deployments = \"ecs\"\nload_balancer_role_arn = \"arn:aws:iam::123456789012:role/ecs-infrastructure\"\nalarms = [\"api-5xx\", \"api-latency\"]",
    );
    let front = Recorder::start(&shop.endpoint);
    shop.endpoint = front.address.clone();
    let service = format!("{}-aws-api", shop.cluster);
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    let with_strategy = |strategy: &str| {
        manifest.replace(
            "strategy = { kind = \"blue-green\", bake = \"2m\" }",
            strategy,
        )
    };

    // Blue-green by ECS itself: one service, both target groups, the rule, the role.
    shop.ok(&["deploy", "aws", "--yes"]);
    let created = front.bodies("CreateService");
    assert_eq!(created.len(), 1, "{created:?}");
    let configuration = &created[0]["deploymentConfiguration"];
    assert_eq!(configuration["strategy"], "BLUE_GREEN");
    assert_eq!(configuration["bakeTimeInMinutes"], 2);
    assert_eq!(
        configuration["alarms"],
        serde_json::json!({"alarmNames": ["api-5xx", "api-latency"], "enable": true, "rollback": true})
    );
    let balancer = &created[0]["loadBalancers"][0];
    assert_eq!(balancer["targetGroupArn"], shop.aws["target_groups"][0]);
    assert_eq!(
        balancer["advancedConfiguration"],
        serde_json::json!({
            "alternateTargetGroupArn": shop.aws["target_groups"][1],
            "productionListenerRule": shop.aws["rule"],
            "roleArn": "arn:aws:iam::123456789012:role/ecs-infrastructure",
        })
    );
    let state = shop.state();
    assert_eq!(revision(&state, &service), "1");
    assert!(state["services"].get(format!("{service}-blue")).is_none());

    // ECS's canary: one step, then the rest.
    write(
        &shop.dir,
        "slipway.toml",
        &with_strategy("strategy = { kind = \"canary\", steps = [10, 100], pause = \"3m\" }"),
    );
    shop.set_greeting("canary");
    shop.ok(&["deploy", "aws", "--yes"]);
    let updated = front.bodies("UpdateService");
    let configuration = &updated.last().unwrap()["deploymentConfiguration"];
    assert_eq!(configuration["strategy"], "CANARY");
    assert_eq!(
        configuration["canaryConfiguration"],
        serde_json::json!({"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3})
    );
    assert_eq!(revision(&shop.state(), &service), "2");

    // ECS's linear strategy: equal steps.
    write(
        &shop.dir,
        "slipway.toml",
        &with_strategy(
            "strategy = { kind = \"canary\", steps = [25, 50, 75, 100], pause = \"1m\" }",
        ),
    );
    shop.set_greeting("linear");
    shop.ok(&["deploy", "aws", "--yes"]);
    let updated = front.bodies("UpdateService");
    let configuration = &updated.last().unwrap()["deploymentConfiguration"];
    assert_eq!(configuration["strategy"], "LINEAR");
    assert_eq!(
        configuration["linearConfiguration"],
        serde_json::json!({"stepPercent": 25.0, "stepBakeTimeInMinutes": 1})
    );
    assert_eq!(revision(&shop.state(), &service), "3");

    // A rollback is one more deployment of the same kind, back to the previous revision.
    shop.ok(&["rollback", "aws"]);
    let updated = front.bodies("UpdateService");
    let last = updated.last().unwrap();
    assert!(
        last["taskDefinition"].as_str().unwrap().ends_with(":2"),
        "{last}"
    );
    assert_eq!(last["deploymentConfiguration"]["strategy"], "LINEAR");
    assert_eq!(revision(&shop.state(), &service), "2");

    // What ECS cannot do is refused by the manifest check, naming the field.
    for (strategy, field) in [
        (
            "strategy = { kind = \"canary\", steps = [10, 40, 100] }",
            "environments.aws.strategy.steps",
        ),
        ("strategy = { kind = \"blue-green\" }", ""),
    ] {
        let mut text = with_strategy(strategy);
        if field.is_empty() {
            text = text.replace(
                &format!("listener = \"{}\"", shop.aws["rule"].as_str().unwrap()),
                &format!("listener = \"{}\"", shop.aws["listener"].as_str().unwrap()),
            );
        }
        write(&shop.dir, "slipway.toml", &text);
        let result = shop.slipway(&["deploy", "aws", "--yes"]);
        assert_ne!(result.code, 0);
        let field = if field.is_empty() {
            "environments.aws.target.apps.api.listener"
        } else {
            field
        };
        assert!(result.stderr.contains(field), "{field}: {}", result.stderr);
    }
}

#[test]
fn an_ecs_canary_whose_target_group_returns_errors_is_stopped_by_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::with_router(
        dir.path(),
        "{ kind = \"canary\", steps = [50, 100], pause = \"5s\", max_error_rate = \"5%\" }",
        "rule",
    );
    shop.ok(&["deploy", "aws", "--yes"]);
    assert_eq!(shop.weights(), (100, 0));
    let green = format!("{}-aws-api-green", shop.cluster);
    // While the next release takes half the traffic, its target group answers 20% 5xx; the
    // old one none. The points cover the whole step, whenever it starts.
    let rule = shop.aws["rule"].as_str().unwrap().to_owned();
    for (group, errors) in [(1, "4"), (0, "0")] {
        moto(&[
            "metrics",
            &rule,
            shop.aws["target_groups"][group].as_str().unwrap(),
            "20",
            errors,
            "30",
        ]);
    }
    shop.set_greeting("errors");
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("canary analysis failed: at 50% the new release's error rate was 20.0%"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("r1 is live"), "{}", result.stderr);
    // Back on blue: all the traffic, and the canary's service scaled to nothing.
    assert_eq!(shop.weights(), (100, 0));
    assert_eq!(shop.state()["services"][&green]["desiredCount"], 0);
}

#[test]
fn a_failed_first_ecs_deploy_leaves_no_service_retrying_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    let front = Recorder::start(&shop.endpoint);
    shop.endpoint = front.address.clone();
    front.inject(Fault::TasksStop {
        revision: "1".into(),
    });
    let result = shop.slipway(&["deploy", "aws", "--yes"]);
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.contains("nothing was live before it"),
        "{}",
        result.stderr
    );
    let service = format!("{}-aws-api", shop.cluster);
    assert_eq!(shop.state()["services"][&service]["desiredCount"], 0);
    let releases: Value =
        serde_json::from_str(&shop.ok(&["releases", "aws", "--output", "json"]).stdout).unwrap();
    assert_eq!(releases[0]["outcome"], "rolled-back");
    assert!(shop.store_has_no_live_release());
}

#[test]
fn deploys_and_rollbacks_are_announced_and_a_failing_channel_never_fails_them() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::new(dir.path(), "{ kind = \"rolling\" }");
    // Slack answers at once; Teams fails twice, then takes it; the example's webhook never does.
    let receiver = Receiver::start(&[
        ("/slack", &[200]),
        ("/teams", &[500, 503, 200]),
        ("/hook?token=webhook-secret", &[500]),
    ]);
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    write(
        &shop.dir,
        "slipway.toml",
        &format!(
            "{manifest}\n[notifications.chat]\nkind = \"slack\"\nurl = \"{0}/slack\"\n\n[notifications.room]\nkind = \"teams\"\nurl = \"env:TEST_TEAMS_WEBHOOK\"\nevents = [\"rolled-back\"]\n",
            receiver.address
        ),
    );
    let teams = format!("{}/teams", receiver.address);
    let hook = format!("{}/hook?token=webhook-secret", receiver.address);
    let env = [
        ("TEST_TEAMS_WEBHOOK", teams.as_str()),
        ("SHOP_NOTIFY_URL", hook.as_str()),
    ];
    let deploy = shop.slipway_with(&["deploy", "aws", "--yes"], &env);
    assert_eq!(
        deploy.code, 0,
        "a failing channel failed the deploy: {}",
        deploy.stderr
    );
    // Slack got the deploy; Teams takes only rollbacks; the webhook was tried three times.
    let slack = receiver.bodies("/slack");
    assert_eq!(slack.len(), 1, "{slack:?}");
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("*{}: release r1 of `aws` is live*", shop.cluster)),
        "{text}"
    );
    assert!(text.contains("api: 127.0.0.1:5000/"), "{text}");
    assert!(receiver.bodies("/teams").is_empty());
    let hooks = receiver.bodies("/hook?token=webhook-secret");
    assert_eq!(hooks.len(), 3, "{}", deploy.stderr);
    assert_eq!(hooks[0]["event"], "deployed");
    assert_eq!(hooks[0]["environment"], "aws");
    assert!(
        deploy
            .stderr
            .contains("notification to `dev` failed after 3 attempt(s)"),
        "{}",
        deploy.stderr
    );
    assert!(
        !deploy.stderr.contains("webhook-secret"),
        "{}",
        deploy.stderr
    );

    shop.set_greeting("second");
    shop.ok(&["deploy", "aws", "--yes"]);
    let rollback = shop.slipway_with(&["rollback", "aws"], &env);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    // Teams got the rollback as an Adaptive Card on its third try.
    let cards = receiver.bodies("/teams");
    assert_eq!(cards.len(), 3);
    let card = &cards[2]["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["body"][0]["text"],
        format!("{}: `aws` rolled back to release r1", shop.cluster)
    );
    assert!(
        rollback.stderr.contains("notified room (rolled-back)"),
        "{}",
        rollback.stderr
    );
}

/// The course project of the seed (a Flask backend with an X-Ray sidecar, a React frontend, ERB
/// env templates, Dockerfile + Dockerfile.prod, task and service definitions with SSM secrets
/// and a budget.json beside them), copied to `dir` with its ECS files pointing at `aws` (what
/// `moto.py course` made): the files a team keeps, with their own cluster, network and account.
fn course_project(dir: &Path, name: &str, aws: &Value) -> PathBuf {
    let project = dir.join("cruddur");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("tests/projects/seed-course"))
        .arg(&project)
        .status()
        .unwrap();
    assert!(status.success());
    for folder in ["aws/task-definitions", "aws/json"] {
        for entry in std::fs::read_dir(project.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("ca-central-1", "eu-central-1")
                .replace("/cruddur/", &format!("/{name}/"))
                .replace(
                    "\"cluster\": \"cruddur\"",
                    &format!("\"cluster\": \"{name}\""),
                );
            let mut json: Value = serde_json::from_str(&text).unwrap();
            if let Some(app) = json["serviceName"].as_str().map(str::to_owned) {
                let network = &mut json["networkConfiguration"]["awsvpcConfiguration"];
                network["subnets"] = aws["subnets"].clone();
                network["securityGroups"] = serde_json::json!([aws["security_group"]]);
                json["loadBalancers"][0]["targetGroupArn"] = aws["target_groups"][&app].clone();
            }
            std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        }
    }
    crate::git_commit_all(&project);
    project
}

#[test]
fn the_seed_course_project_converts_lints_renders_offline_and_deploys_to_ecs() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("course");
    let aws = moto(&["course", &name]);
    let project = course_project(dir.path(), &name, &aws);
    let ok = |command: &mut assert_cmd::Command| {
        let result = run(command);
        assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
        result
    };
    let read = |path: &str| std::fs::read_to_string(project.join(path)).unwrap();

    // init: the ERB templates become config templates the compose env_files find.
    let init = ok(slipway(&project).args([
        "init",
        "--from-compose",
        "docker-compose.yml",
        "--name",
        "cruddur",
        ".",
    ]));
    let backend_dev = read("config/dev/backend-flask.env.j2");
    assert!(
        backend_dev.contains("{% if vars.GITPOD_WORKSPACE_ID | default(\"\") %}\nFRONTEND_URL=\"https://3000-{{ vars.GITPOD_WORKSPACE_ID | default(\"\") }}"),
        "{backend_dev}"
    );
    assert!(
        backend_dev.contains(
            "AWS_DEFAULT_REGION={{ vars.AWS_DEFAULT_REGION | default(\"ca-central-1\") }}"
        ),
        "{backend_dev}"
    );
    assert!(
        backend_dev.contains("AWS_SECRET_ACCESS_KEY={{ secret.AWS_SECRET_ACCESS_KEY }}"),
        "{backend_dev}"
    );
    assert!(
        !init
            .stderr
            .contains("env file `backend-flask.env` not found"),
        "{}",
        init.stderr
    );
    // One app, several Dockerfiles.
    let manifest = read("slipway.toml");
    for line in [
        "[apps.backend-flask.environments.prod]\ndockerfile = \"backend-flask/Dockerfile.prod\"",
        "[apps.frontend-react-js.environments.prod]\ndockerfile = \"frontend-react-js/Dockerfile.prod\"",
        "[apps.frontend-react-js.environments.prod.build_args]\nREACT_APP_BACKEND_URL = \"\"\nREACT_APP_AWS_PROJECT_REGION = \"ca-central-1\"\nREACT_APP_AWS_USER_POOLS_ID = \"\"",
    ] {
        assert!(manifest.contains(line), "`{line}` missing in:\n{manifest}");
    }
    // The dev config renders like the ERB template would outside Gitpod.
    let rendered = ok(slipway(&project)
        .args([
            "config",
            "render",
            "dev",
            "--set",
            "PROD_CONNECTION_URL=postgresql://localhost/cruddur",
            "--set",
            "AWS_SECRET_ACCESS_KEY=dev-key",
            "--set",
            "AWS_USER_POOLS_ID=pool",
        ])
        .env_remove("GITPOD_WORKSPACE_ID"));
    let _ = rendered;
    let env_file =
        std::fs::read_to_string(project.join(".slipway/config/dev/backend-flask.env")).unwrap();
    assert!(
        env_file.contains("FRONTEND_URL=\"http://localhost:3000\""),
        "{env_file}"
    );
    assert!(!env_file.contains("GITPOD"), "{env_file}");

    // ecs import: the course's files as they are, merged into the prod init wrote.
    let import = ok(slipway(&project).args(["ecs", "import", "aws/task-definitions", "aws/json"]));
    for note in [
        "aws/json/budget.json: neither a task definition",
        "sidecar `xray` listens on 2000/udp",
        "`enableExecuteCommand` is not carried over",
        "Service Connect",
        "port 4567 is named `backend-flask`",
        "sidecar `xray`'s `user` is not carried over",
    ] {
        assert!(
            import.stderr.contains(note),
            "`{note}` missing in:\n{}",
            import.stderr
        );
    }
    let manifest = read("slipway.toml");
    for line in [
        "[apps.backend-flask.sidecars.xray]\nimage = \"public.ecr.aws/xray/aws-xray-daemon:3.3.7\"",
        "repository = \"backend-flask\"",
        "repository = \"frontend-react-js\"",
        "cmd = \"python /backend-flask/bin/health-check\"",
        &format!("AWS_SECRET_ACCESS_KEY = \"ssm:/{name}/backend-flask/AWS_SECRET_ACCESS_KEY\""),
        &format!("cluster = \"{name}\""),
        "[environments.prod.approval]\nrequired = true",
        "url = \"123456789012.dkr.ecr.eu-central-1.amazonaws.com\"",
    ] {
        assert!(manifest.contains(line), "`{line}` missing in:\n{manifest}");
    }
    // Dev keeps its own secret source.
    assert!(
        manifest.contains(
            "[environments.dev.secrets]\nAWS_SECRET_ACCESS_KEY = \"env:AWS_SECRET_ACCESS_KEY\""
        ),
        "{manifest}"
    );
    let prod_backend = read("config/prod/backend-flask.env.j2");
    assert!(
        prod_backend.contains("CONNECTION_URL={{ secret.CONNECTION_URL }}"),
        "{prod_backend}"
    );
    assert!(
        prod_backend.contains("FRONTEND_URL=https://cruddur.example.com"),
        "{prod_backend}"
    );

    // lint: nothing of what init and import wrote is an error. The app Dockerfiles still build
    // FROM public images (DF003); moving them onto project bases is the user's edit.
    let lint = run(slipway(&project).args(["lint", "--format", "json"]));
    let report: Value =
        serde_json::from_str(&lint.stdout).unwrap_or_else(|e| panic!("{e}: {}", lint.stdout));
    let errors: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["file"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("DF003".to_owned(), "backend-flask/Dockerfile".to_owned()),
            (
                "DF003".to_owned(),
                "backend-flask/Dockerfile.prod".to_owned()
            ),
            (
                "DF003".to_owned(),
                "frontend-react-js/Dockerfile".to_owned()
            ),
            (
                "DF003".to_owned(),
                "frontend-react-js/Dockerfile.prod".to_owned()
            ),
        ],
        "{}",
        lint.stdout
    );

    // aws scaffold makes only what is missing: the imported environment names its network,
    // roles, target groups and repositories; only the cluster is left, unless it exists.
    let scaffold = ok(slipway(&project).args(["aws", "scaffold", "prod"]));
    let template: Value = serde_json::from_str(&scaffold.stdout).unwrap();
    let mut made: Vec<&String> = template["Resources"].as_object().unwrap().keys().collect();
    made.sort();
    assert_eq!(made, vec!["Cluster", "LogGroup"], "{}", scaffold.stdout);
    let nothing = ok(slipway(&project).args(["aws", "scaffold", "prod", "--cluster-exists"]));
    assert_eq!(nothing.stdout, "");
    assert!(
        nothing.stderr.contains("nothing to create"),
        "{}",
        nothing.stderr
    );

    // config render prod: secrets stay references.
    ok(slipway(&project).args(["config", "render", "prod"]));

    let images = [
        format!(
            "--image=backend-flask={}",
            aws["images"]["backend-flask"].as_str().unwrap()
        ),
        format!(
            "--image=frontend-react-js={}",
            aws["images"]["frontend-react-js"].as_str().unwrap()
        ),
    ];
    // ecs render works offline: every AWS call would fail here.
    let offline = ok(with_aws(&mut slipway(&project), "http://127.0.0.1:9")
        .args(["ecs", "render", "prod"])
        .args(&images));
    let rendered: Value = serde_json::from_str(&offline.stdout).unwrap();
    let backend = &rendered["backend-flask"]["containerDefinitions"];
    assert_eq!(backend[0]["name"], "backend-flask");
    assert_eq!(backend[0]["image"], aws["images"]["backend-flask"]);
    assert_eq!(backend[1]["name"], "xray");
    assert_eq!(backend[0]["healthCheck"]["command"][0], "CMD-SHELL");
    let secret = backend[0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "CONNECTION_URL")
        .unwrap();
    // A full ARN in the execution role's account, as the deploy writes it.
    let value_from = secret["valueFrom"].as_str().unwrap();
    assert!(
        value_from.starts_with("arn:aws:ssm:")
            && value_from.ends_with(&format!(":parameter/{name}/backend-flask/CONNECTION_URL")),
        "{value_from}"
    );
    // --check asks AWS; an unreachable endpoint is one readable line.
    let unreachable = run(with_aws(&mut slipway(&project), "http://127.0.0.1:9")
        .args(["ecs", "render", "prod", "--check"])
        .args(&images));
    assert_eq!(unreachable.code, 2, "{}", unreachable.stderr);
    let message = unreachable.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    for part in [
        "DescribeParameters",
        "http://127.0.0.1:9",
        "cannot connect",
        "check the endpoint",
    ] {
        assert!(message.contains(part), "`{part}` missing in: {message}");
    }
    for dump in ["ConnectorError", "DispatchFailure", "Some(", "{ "] {
        assert!(!message.contains(dump), "`{dump}` in: {message}");
    }
    ok(with_aws(&mut slipway(&project), &endpoint())
        .args(["ecs", "render", "prod", "--check"])
        .args(&images));

    // The deploy: digest-pinned images, secrets as references, the sidecar beside the app.
    ok(with_aws(&mut slipway(&project), &endpoint())
        .args(["deploy", "prod", "--yes"])
        .args(&images));
    let state = moto(&["state", &name]);
    let backend = definition(&state, "backend-flask");
    let containers = backend["containerDefinitions"].as_array().unwrap();
    let app = containers
        .iter()
        .find(|c| c["name"] == "backend-flask")
        .unwrap();
    assert_eq!(app["image"], aws["images"]["backend-flask"]);
    assert_eq!(app["portMappings"][0]["containerPort"], 4567);
    let xray = containers.iter().find(|c| c["name"] == "xray").unwrap();
    assert_eq!(xray["image"], "public.ecr.aws/xray/aws-xray-daemon:3.3.7");
    let secrets: Vec<&str> = app["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["valueFrom"].as_str().unwrap())
        .collect();
    assert_eq!(secrets.len(), 5, "{secrets:?}");
    assert!(
        secrets
            .iter()
            .all(|s| s.contains(&format!("/{name}/backend-flask/"))),
        "{secrets:?}"
    );
    assert!(
        !backend.to_string().contains("course-secret-"),
        "a secret value reached the task definition"
    );
    assert_eq!(
        env_value(app, "FRONTEND_URL"),
        Some("https://cruddur.example.com")
    );
    let described = &state["services"]["backend-flask"];
    assert_eq!(
        described["loadBalancers"][0]["targetGroupArn"],
        aws["target_groups"]["backend-flask"]
    );
    assert_eq!(
        described["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        aws["subnets"]
    );
    let frontend = definition(&state, "frontend-react-js");
    assert_eq!(
        frontend["containerDefinitions"][0]["image"],
        aws["images"]["frontend-react-js"]
    );

    // An error AWS answers is one line too: the operation, the endpoint, its code and message,
    // and what to do.
    let manifest = read("slipway.toml");
    write(
        &project,
        "slipway.toml",
        &manifest.replace(
            &format!("cluster = \"{name}\""),
            "cluster = \"no-such-cluster\"",
        ),
    );
    let missing = run(with_aws(&mut slipway(&project), &endpoint())
        .args(["ecs", "diff", "prod"])
        .args(&images));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert_eq!(
        missing.stderr.trim(),
        format!(
            "error: DescribeServices: at {}: ClusterNotFoundException: Cluster not found; check the name in slipway.toml, or create it (`slipway aws scaffold`)",
            endpoint()
        )
    );
}

#[test]
fn ecs_import_refuses_a_broken_task_definition_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let project = course_project(
        dir.path(),
        "broken",
        &serde_json::json!({
            "subnets": ["subnet-1"], "security_group": "sg-1",
            "target_groups": { "backend-flask": "arn:tg:1", "frontend-react-js": "arn:tg:2" }
        }),
    );
    let init = run(slipway(&project).args([
        "init",
        "--from-compose",
        "docker-compose.yml",
        "--name",
        "cruddur",
        ".",
    ]));
    assert_eq!(init.code, 0, "{}", init.stderr);
    let snapshot = |project: &Path| -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        for folder in ["", "config/prod"] {
            for entry in std::fs::read_dir(project.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    };
    let before = snapshot(&project);

    // Not JSON: located by file, line and column.
    write(
        &project,
        "aws/task-definitions/backend-flask.json",
        "{\n  \"family\": \"backend-flask\",\n  \"cpu\": 256,,\n}\n",
    );
    let result = run(slipway(&project).args(["ecs", "import", "aws/task-definitions", "aws/json"]));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("aws/task-definitions/backend-flask.json:3:"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("not JSON"), "{}", result.stderr);
    assert_eq!(snapshot(&project), before);

    // A field of the wrong type: named by its path.
    let mut definition: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("tests/projects/seed-course/aws/task-definitions/backend-flask.json"),
        )
        .unwrap(),
    )
    .unwrap();
    definition["containerDefinitions"][1]["portMappings"][0]["containerPort"] =
        serde_json::json!("4567");
    write(
        &project,
        "aws/task-definitions/backend-flask.json",
        &definition.to_string(),
    );
    let result = run(slipway(&project).args(["ecs", "import", "aws/task-definitions", "aws/json"]));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("backend-flask.json: `containerDefinitions[1].portMappings[0].containerPort` must be a number, found a string"),
        "{}",
        result.stderr
    );
    assert_eq!(snapshot(&project), before);
}

/// The EventBridge schedules whose names start with `prefix`, by name, as boto3 reads them.
fn schedules(prefix: &str) -> serde_json::Map<String, Value> {
    moto(&["schedules", prefix]).as_object().unwrap().clone()
}

#[test]
fn ecs_jobs_are_eventbridge_schedules_that_run_the_live_task_definition() {
    let dir = tempfile::tempdir().unwrap();
    let role = "arn:aws:iam::123456789012:role/shop-scheduler";
    let shop = Shop::with_target(
        dir.path(),
        "{ kind = \"rolling\" }",
        "listener",
        &format!("scheduler_role_arn = \"{role}\""),
    );
    let manifest = std::fs::read_to_string(shop.dir.join("slipway.toml")).unwrap();
    let job = "\n[jobs.report]\napp = \"api\"\nrun = [\"python3\", \"-m\", \"api.report\"]\n\
               schedule = \"0 3 * * *\"\ntimezone = \"Europe/Paris\"\nenvironments = [\"aws\"]\n";
    write(&shop.dir, "slipway.toml", &format!("{manifest}{job}"));
    // Another team's schedule under the same prefix, which no deploy may touch.
    let prefix = format!("{}-aws-", shop.cluster);
    let foreign = format!("{prefix}backup");
    moto(&["foreign-schedule", &foreign]);
    let name = format!("{prefix}report");
    let service = format!("{}-aws-api", shop.cluster);

    // The deploy's progress (stderr) names each change of a schedule.
    let first = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        first.stderr.contains(&format!(
            "job report: schedule {name} → cron(0 3 * * ? *) Europe/Paris, task definition {service}:1"
        )),
        "{}",
        first.stderr
    );
    let state = shop.state();
    let live = state["services"][&service]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = schedules(&prefix);
    let schedule = &found[&name];
    assert_eq!(schedule["ScheduleExpression"], "cron(0 3 * * ? *)");
    assert_eq!(schedule["ScheduleExpressionTimezone"], "Europe/Paris");
    assert_eq!(schedule["State"], "ENABLED");
    let target = &schedule["Target"];
    assert!(
        target["Arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":cluster/{}", shop.cluster)),
        "the cluster's ARN: {target}"
    );
    assert_eq!(target["RoleArn"], role);
    let ecs = &target["EcsParameters"];
    assert_eq!(ecs["TaskDefinitionArn"], live.as_str());
    assert_eq!(ecs["TaskCount"], 1);
    assert_eq!(ecs["LaunchType"], "FARGATE");
    assert_eq!(
        ecs["NetworkConfiguration"]["awsvpcConfiguration"]["Subnets"],
        shop.aws["subnets"]
    );
    assert_eq!(
        ecs["NetworkConfiguration"]["awsvpcConfiguration"]["SecurityGroups"][0],
        shop.aws["security_group"]
    );
    // `slipway jobs` reads the schedule back, with its next run in its time zone.
    let listed = shop.ok(&["jobs", "aws", "--output", "json"]);
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(rows[0]["name"], "report", "{rows:#}");
    assert_eq!(rows[0]["schedule"], "cron(0 3 * * ? *)", "{rows:#}");
    assert_eq!(rows[0]["timezone"], "Europe/Paris", "{rows:#}");
    assert_eq!(rows[0]["place"], name.as_str(), "{rows:#}");
    let next = rows[0]["next_run"].as_i64().unwrap();
    assert!(
        matches!((next % 86_400) / 3_600, 1 | 2),
        "03:00 in Paris: {next}"
    );
    let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"containerOverrides": [{"name": "api", "command": ["python3", "-m", "api.report"]}]})
    );

    // A deploy with no app to replace still updates a changed schedule; one unchanged says nothing.
    write(
        &shop.dir,
        "slipway.toml",
        &format!("{manifest}{}", job.replace("0 3 * * *", "30 4 * * 1-5")),
    );
    let second = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        second.stdout.contains("nothing to deploy"),
        "{}",
        second.stdout
    );
    let schedule = &schedules(&prefix)[&name];
    assert_eq!(
        schedule["ScheduleExpression"],
        "cron(30 4 ? * MON,TUE,WED,THU,FRI *)"
    );
    assert_eq!(
        schedule["Target"]["EcsParameters"]["TaskDefinitionArn"],
        live.as_str()
    );
    assert!(
        second.stderr.contains("job report: schedule"),
        "{}",
        second.stderr
    );
    let again = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(!again.stderr.contains("job report"), "{}", again.stderr);

    // A new release moves the schedule to its revision; a rollback moves it back.
    shop.set_greeting("second");
    shop.ok(&["deploy", "aws", "--yes"]);
    let definition_of = || {
        schedules(&prefix)[&name]["Target"]["EcsParameters"]["TaskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(definition_of().ends_with(&format!("{service}:2")));
    let back = shop.ok(&["rollback", "aws"]);
    assert!(
        back.stdout
            .contains(&format!("task definition {service}:1"))
            || back
                .stderr
                .contains(&format!("task definition {service}:1")),
        "{back:?}"
    );
    assert_eq!(definition_of(), live);

    // The job gone from slipway.toml: its schedule is deleted, the other team's is not.
    write(&shop.dir, "slipway.toml", &manifest);
    let removed = shop.ok(&["deploy", "aws", "--yes"]);
    assert!(
        removed
            .stderr
            .contains(&format!("job report: schedule {name} deleted")),
        "{}",
        removed.stderr
    );
    let left: Vec<String> = schedules(&prefix).keys().cloned().collect();
    assert_eq!(left, [foreign]);
}

#[test]
fn a_job_on_ecs_without_the_scheduler_role_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let cluster = unique("ecs-nojobrole");
    let manifest = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .replace("name = \"shop\"", &format!("name = \"{cluster}\""));
    write(
        &shop,
        "slipway.toml",
        &format!(
            "{manifest}\n[environments.aws]\napps = [\"api\"]\n\
             target = {{ kind = \"ecs\", cluster = \"{cluster}\", region = \"eu-central-1\" }}\n\
             \n[jobs.report]\napp = \"api\"\nrun = \"python3 -m api.report\"\nschedule = \"@daily\"\n"
        ),
    );
    let refused = run(with_aws(&mut slipway(&shop), &endpoint()).args(["deploy", "aws", "--yes"]));
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("environments.aws.target.scheduler_role_arn"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("job `report`"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("slipway.toml:"),
        "{}",
        refused.stderr
    );
    assert!(
        schedules(&format!("{cluster}-")).is_empty(),
        "nothing was scheduled"
    );
}
