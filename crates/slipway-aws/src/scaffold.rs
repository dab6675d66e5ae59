//! `slipway aws scaffold`: a CloudFormation template with what an ECS environment needs before
//! its first deploy and does not have yet: ECR repositories (scan on push, a lifecycle that keeps
//! the last releases), the cluster and its log group, the execution and task roles, the tasks'
//! security group, and an ALB listener where each app has its own rule (by path; the `/` app's
//! rule comes last) forwarding to its target groups: one for a rolling environment, two (blue,
//! green) for blue-green and canary, with a test listener reaching the green ones. What
//! slipway.toml already names (subnets, security groups, roles, an app's listener or target
//! groups, a cluster said to exist) is used, not created. Services are not in it: the first
//! `slipway deploy` creates them with their task definitions. Pure: it is printed for a person
//! to review and apply, never applied here.

use serde_json::{Value, json};

use crate::secrets::SecretSource;

/// The load balancer's port for the idle colour (the test listener).
const TEST_PORT: u16 = 8081;

/// One app as the scaffold template sets it up: its load balancing and repository.
#[derive(Debug, Clone)]
pub struct ScaffoldApp {
    /// The app's name.
    pub name: String,
    /// The port its container listens on.
    pub port: Option<u16>,
    /// The path its target group's health check asks for.
    pub health_path: Option<String>,
    /// The app's route path prefix; `/` (or none) is matched last.
    pub route_path: Option<String>,
    /// Its listener or listener rule, when slipway.toml names one: nothing is made for it.
    pub listener: Option<String>,
    /// Its target groups, when slipway.toml names them: none are made.
    pub target_groups: Vec<String>,
    /// Its repository; default `<project>/<app>`.
    pub repository: String,
    /// The repository exists (slipway.toml names it): it is not made.
    pub repository_exists: bool,
}

/// What `slipway aws scaffold` makes a CloudFormation template for: an environment's ECS resources.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The project's name.
    pub project: String,
    /// The environment's name.
    pub environment: String,
    /// The ECS cluster's name.
    pub cluster: String,
    /// The CloudWatch log group of the tasks.
    pub log_group: String,
    /// The apps, each with its service, target groups and repository.
    pub apps: Vec<ScaffoldApp>,
    /// Secrets the execution role may read.
    pub secrets: Vec<SecretSource>,
    /// Images each repository keeps.
    pub keep_images: u32,
    /// Blue-green or canary: two target groups per app and a test listener.
    pub two_colours: bool,
    /// The cluster (and its log group) exist already.
    pub cluster_exists: bool,
    /// Subnets slipway.toml names (else the `Subnets` parameter).
    pub subnets: Vec<String>,
    /// The tasks' security groups slipway.toml names (else one is made).
    pub security_groups: Vec<String>,
    /// The execution role slipway.toml names (else one is made).
    pub execution_role_arn: Option<String>,
    /// The task role slipway.toml names, if any.
    pub task_role_arn: Option<String>,
}

/// A CloudFormation logical ID: letters and digits only.
fn logical(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|part| {
            let mut upper = true;
            part.chars()
                .filter_map(move |c| {
                    if c.is_ascii_alphanumeric() {
                        let out = if upper { c.to_ascii_uppercase() } else { c };
                        upper = false;
                        Some(out)
                    } else {
                        upper = true;
                        None
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The CloudFormation template of `scaffold`, as JSON.
pub fn template(scaffold: &Scaffold) -> Value {
    let mut resources = serde_json::Map::new();
    let mut outputs = serde_json::Map::new();
    let tags = json!([
        { "Key": "slipway:project", "Value": scaffold.project },
        { "Key": "slipway:environment", "Value": scaffold.environment },
    ]);
    if !scaffold.cluster_exists {
        resources.insert(
            "Cluster".into(),
            json!({
                "Type": "AWS::ECS::Cluster",
                "Properties": { "ClusterName": scaffold.cluster, "Tags": tags }
            }),
        );
        resources.insert(
            "LogGroup".into(),
            json!({
                "Type": "AWS::Logs::LogGroup",
                "Properties": { "LogGroupName": scaffold.log_group, "RetentionInDays": 30 }
            }),
        );
    }
    let lifecycle = json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the last {} images", scaffold.keep_images),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": scaffold.keep_images },
            "action": { "type": "expire" }
        }]
    });
    for app in scaffold.apps.iter().filter(|a| !a.repository_exists) {
        resources.insert(
            logical(&["Repository", &app.name]),
            json!({
                "Type": "AWS::ECR::Repository",
                "Properties": {
                    "RepositoryName": app.repository,
                    "ImageScanningConfiguration": { "ScanOnPush": true },
                    "LifecyclePolicy": { "LifecyclePolicyText": lifecycle.to_string() },
                    "Tags": tags
                }
            }),
        );
    }
    let assume = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    });
    let mut execution = json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume,
            "ManagedPolicyArns": [{ "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" }],
            "Tags": tags
        }
    });
    // The execution role reads exactly the environment's secrets when a task starts.
    let mut parameters = Vec::new();
    let mut secrets = Vec::new();
    for source in &scaffold.secrets {
        match source {
            SecretSource::Ssm(name) => parameters.push(json!({
                "Fn::Sub": format!("arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{}", name.trim_start_matches('/'))
            })),
            SecretSource::SecretsManager(name) => secrets.push(json!({
                "Fn::Sub": format!("arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{name}-*")
            })),
        }
    }
    let mut statements = Vec::new();
    if !parameters.is_empty() {
        statements.push(
            json!({ "Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": parameters }),
        );
    }
    if !secrets.is_empty() {
        statements.push(json!({ "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets }));
    }
    if !statements.is_empty() {
        execution["Properties"]["Policies"] = json!([{
            "PolicyName": "read-environment-secrets",
            "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
        }]);
    }
    if scaffold.execution_role_arn.is_none() {
        resources.insert("ExecutionRole".into(), execution);
        outputs.insert(
            "ExecutionRoleArn".into(),
            json!({ "Value": { "Fn::GetAtt": ["ExecutionRole", "Arn"] } }),
        );
    }
    if scaffold.task_role_arn.is_none() {
        resources.insert(
            "TaskRole".into(),
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": { "AssumeRolePolicyDocument": assume, "Tags": tags }
            }),
        );
        outputs.insert(
            "TaskRoleArn".into(),
            json!({ "Value": { "Fn::GetAtt": ["TaskRole", "Arn"] } }),
        );
    }
    let subnets = if scaffold.subnets.is_empty() {
        json!({ "Ref": "Subnets" })
    } else {
        json!(scaffold.subnets)
    };
    // Apps that need something on the load balancer: a rule, target groups, or both.
    // A rolling app whose target group is named is on a load balancer already.
    let needs_rule = |a: &ScaffoldApp| {
        a.port.is_some()
            && a.listener.is_none()
            && (scaffold.two_colours || a.target_groups.is_empty())
    };
    let balanced: Vec<&ScaffoldApp> = scaffold.apps.iter().filter(|a| needs_rule(a)).collect();
    let colours: &[&str] = if scaffold.two_colours {
        &["blue", "green"]
    } else {
        &["blue"]
    };
    let needs_vpc = scaffold.security_groups.is_empty()
        || !balanced.is_empty()
        || scaffold
            .apps
            .iter()
            .any(|a| a.port.is_some() && a.target_groups.is_empty());
    if !balanced.is_empty() {
        let mut balancer_ingress = vec![
            json!({ "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0" }),
        ];
        if scaffold.two_colours {
            balancer_ingress.push(json!({ "IpProtocol": "tcp", "FromPort": TEST_PORT, "ToPort": TEST_PORT, "CidrIp": { "Ref": "TestCidr" } }));
        }
        resources.insert(
        "LoadBalancerSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": format!("{} {}: the load balancer", scaffold.project, scaffold.environment),
                "VpcId": { "Ref": "VpcId" },
                "SecurityGroupIngress": balancer_ingress,
                "Tags": tags
            }
        }),
    );
    }
    let ports: std::collections::BTreeSet<u16> =
        scaffold.apps.iter().filter_map(|a| a.port).collect();
    if scaffold.security_groups.is_empty() {
        let from_balancer = if balanced.is_empty() {
            json!({ "CidrIp": "10.0.0.0/8" })
        } else {
            json!({ "SourceSecurityGroupId": { "Ref": "LoadBalancerSecurityGroup" } })
        };
        resources.insert(
        "TaskSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": format!("{} {}: the tasks, reached from the load balancer only", scaffold.project, scaffold.environment),
                "VpcId": { "Ref": "VpcId" },
                "SecurityGroupIngress": ports.iter().map(|port| {
                    let mut rule = json!({ "IpProtocol": "tcp", "FromPort": port, "ToPort": port });
                    for (key, value) in from_balancer.as_object().expect("an object") {
                        rule[key] = value.clone();
                    }
                    rule
                }).collect::<Vec<_>>(),
                "Tags": tags
            }
        }),
    );
        outputs.insert(
            "TaskSecurityGroup".into(),
            json!({ "Value": { "Ref": "TaskSecurityGroup" } }),
        );
    }
    if !balanced.is_empty() {
        resources.insert(
            "LoadBalancer".into(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {
                    "Type": "application",
                    "Scheme": "internet-facing",
                    "Subnets": subnets,
                    "SecurityGroups": [{ "Ref": "LoadBalancerSecurityGroup" }],
                    "Tags": tags
                }
            }),
        );
    }
    // Every app gets its own rule: path prefixes first, the `/` app last.
    let mut routed: Vec<&ScaffoldApp> = scaffold.apps.iter().filter(|a| a.port.is_some()).collect();
    routed.sort_by_key(|a| {
        a.route_path
            .as_deref()
            .is_none_or(|p| p.trim_end_matches('/').is_empty())
    });
    let not_found = json!([{
        "Type": "fixed-response",
        "FixedResponseConfig": { "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no app is routed here" }
    }]);
    let mut priority = 10;
    for app in &routed {
        let groups: Vec<Value> = if app.target_groups.is_empty() {
            colours
                .iter()
                .map(|colour| {
                    let group = logical(&["TargetGroup", &app.name, colour]);
                    resources.insert(
                        group.clone(),
                        json!({
                            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                            "Properties": {
                                "VpcId": { "Ref": "VpcId" },
                                "Protocol": "HTTP",
                                "Port": app.port,
                                "TargetType": "ip",
                                "HealthCheckPath": app.health_path.clone().unwrap_or_else(|| "/".into()),
                                "Matcher": { "HttpCode": "200-399" },
                                "TargetGroupAttributes": [{ "Key": "deregistration_delay.timeout_seconds", "Value": "30" }],
                                "Tags": tags
                            }
                        }),
                    );
                    json!({ "Ref": group })
                })
                .collect()
        } else {
            app.target_groups.iter().map(|arn| json!(arn)).collect()
        };
        if app.target_groups.is_empty() {
            outputs.insert(
                logical(&[&app.name, "TargetGroups"]),
                json!({
                    "Description": format!("`target_groups` of [environments.{}.target.apps.{}]{}", scaffold.environment, app.name, if scaffold.two_colours { " (blue, green)" } else { "" }),
                    "Value": { "Fn::Join": [",", groups] }
                }),
            );
        }
        if !needs_rule(app) {
            continue;
        }
        let path = app.route_path.clone().unwrap_or_else(|| "/".into());
        let prefix = path.trim_end_matches('/');
        let values = if prefix.is_empty() {
            json!(["/*"])
        } else {
            json!([prefix, format!("{prefix}/*")])
        };
        let forward = |group: &Value| json!([{ "Type": "forward", "TargetGroupArn": group }]);
        let rule = logical(&["Rule", &app.name]);
        resources.insert(
            rule.clone(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                "Properties": {
                    "ListenerArn": { "Ref": "Listener" },
                    "Priority": priority,
                    "Conditions": [{ "Field": "path-pattern", "PathPatternConfig": { "Values": values } }],
                    "Actions": forward(&groups[0])
                }
            }),
        );
        // The test listener forwards to green, the same way: it keeps both target groups on the
        // load balancer (ECS refuses a service on a target group that is on none) and lets a
        // person try the idle colour before it takes traffic.
        if scaffold.two_colours && groups.len() > 1 {
            resources.insert(
                logical(&["TestRule", &app.name]),
                json!({
                    "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                    "Properties": {
                        "ListenerArn": { "Ref": "TestListener" },
                        "Priority": priority,
                        "Conditions": [{ "Field": "path-pattern", "PathPatternConfig": { "Values": values } }],
                        "Actions": forward(&groups[1])
                    }
                }),
            );
        }
        priority += 10;
        outputs.insert(
            logical(&[&app.name, "Listener"]),
            json!({ "Description": format!("`listener` of [environments.{}.target.apps.{}]", scaffold.environment, app.name), "Value": { "Ref": rule } }),
        );
    }
    if !balanced.is_empty() {
        resources.insert(
            "Listener".into(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "LoadBalancerArn": { "Ref": "LoadBalancer" },
                    "Port": 80,
                    "Protocol": "HTTP",
                    "DefaultActions": not_found
                }
            }),
        );
        if scaffold.two_colours {
            resources.insert(
                "TestListener".into(),
                json!({
                    "Type": "AWS::ElasticLoadBalancingV2::Listener",
                    "Properties": {
                        "LoadBalancerArn": { "Ref": "LoadBalancer" },
                        "Port": TEST_PORT,
                        "Protocol": "HTTP",
                        "DefaultActions": not_found
                    }
                }),
            );
        }
        outputs.insert(
            "LoadBalancerUrl".into(),
            json!({ "Value": { "Fn::Sub": "http://${LoadBalancer.DNSName}" } }),
        );
    }
    if !scaffold.cluster_exists {
        outputs.insert("Cluster".into(), json!({ "Value": { "Ref": "Cluster" } }));
    }
    let mut parameters = serde_json::Map::new();
    if needs_vpc {
        parameters.insert("VpcId".into(), json!({ "Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the load balancer and the tasks" }));
    }
    if scaffold.subnets.is_empty() && !balanced.is_empty() {
        parameters.insert("Subnets".into(), json!({ "Type": "List<AWS::EC2::Subnet::Id>", "Description": "At least two subnets in different zones" }));
    }
    if scaffold.two_colours && !balanced.is_empty() {
        parameters.insert("TestCidr".into(), json!({ "Type": "String", "Default": "10.0.0.0/8", "Description": "Who may reach the test listener (the idle colour)" }));
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("What the `{}` environment of {} needs on ECS before its first slipway deploy (written by slipway aws scaffold)", scaffold.environment, scaffold.project),
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_alphanumeric() {
        assert_eq!(
            logical(&["TargetGroup", "my-api", "blue"]),
            "TargetGroupMyApiBlue"
        );
    }

    fn apps() -> Vec<ScaffoldApp> {
        vec![
            ScaffoldApp {
                name: "web".into(),
                port: Some(8080),
                health_path: None,
                route_path: Some("/".into()),
                listener: None,
                target_groups: Vec::new(),
                repository: "shop/web".into(),
                repository_exists: false,
            },
            ScaffoldApp {
                name: "api".into(),
                port: Some(8000),
                health_path: Some("/health".into()),
                route_path: Some("/api".into()),
                listener: None,
                target_groups: Vec::new(),
                repository: "shop/api".into(),
                repository_exists: false,
            },
        ]
    }

    fn scaffold() -> Scaffold {
        Scaffold {
            project: "shop".into(),
            environment: "prod".into(),
            cluster: "shop-prod".into(),
            log_group: "/ecs/shop-prod".into(),
            apps: apps(),
            secrets: vec![SecretSource::Ssm("/shop/prod/db".into())],
            keep_images: 10,
            two_colours: true,
            cluster_exists: false,
            subnets: Vec::new(),
            security_groups: Vec::new(),
            execution_role_arn: None,
            task_role_arn: None,
        }
    }

    #[test]
    fn every_app_gets_its_own_rule_and_the_root_app_comes_last() {
        let template = template(&scaffold());
        let resources = &template["Resources"];
        assert_eq!(
            resources["Listener"]["Properties"]["DefaultActions"][0]["Type"],
            "fixed-response"
        );
        assert_eq!(
            resources["RuleApi"]["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"],
            json!(["/api", "/api/*"])
        );
        assert_eq!(resources["RuleApi"]["Properties"]["Priority"], 10);
        assert_eq!(
            resources["RuleWeb"]["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"],
            json!(["/*"])
        );
        assert_eq!(resources["RuleWeb"]["Properties"]["Priority"], 20);
        assert_eq!(
            template["Outputs"]["WebListener"]["Value"]["Ref"],
            "RuleWeb"
        );
        assert!(resources.get("TargetGroupWebGreen").is_some());
        assert!(
            resources["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                .to_string()
                .contains("parameter/shop/prod/db")
        );
    }

    #[test]
    fn a_rolling_environment_gets_one_target_group_per_app_and_no_test_listener() {
        let template = template(&Scaffold {
            two_colours: false,
            ..scaffold()
        });
        let resources = &template["Resources"];
        assert!(resources.get("TargetGroupApiBlue").is_some());
        assert!(resources.get("TargetGroupApiGreen").is_none());
        assert!(resources.get("TestListener").is_none());
        assert!(template["Parameters"].get("TestCidr").is_none());
        assert_eq!(
            template["Outputs"]["ApiTargetGroups"]["Value"]["Fn::Join"][1],
            json!([{ "Ref": "TargetGroupApiBlue" }])
        );
    }

    #[test]
    fn what_slipway_toml_names_is_used_not_created() {
        let mut apps = apps();
        apps[1].repository_exists = true;
        apps[1].listener =
            Some("arn:aws:elasticloadbalancing:eu-central-1:1:listener-rule/app/x/1/2/3".into());
        apps[1].target_groups =
            vec!["arn:aws:elasticloadbalancing:eu-central-1:1:targetgroup/api/1".into()];
        let template = template(&Scaffold {
            apps,
            two_colours: false,
            cluster_exists: true,
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-1".into()],
            execution_role_arn: Some("arn:aws:iam::1:role/exec".into()),
            task_role_arn: Some("arn:aws:iam::1:role/task".into()),
            ..scaffold()
        });
        let resources = template["Resources"].as_object().unwrap();
        for absent in [
            "Cluster",
            "LogGroup",
            "ExecutionRole",
            "TaskRole",
            "TaskSecurityGroup",
            "TargetGroupApiBlue",
            "RuleApi",
        ] {
            assert!(!resources.contains_key(absent), "{absent} was made");
        }
        // The web app has nothing yet: its rule forwards to the target group made for it.
        assert_eq!(
            resources["RuleWeb"]["Properties"]["Actions"][0]["TargetGroupArn"],
            json!({ "Ref": "TargetGroupWebBlue" })
        );
        assert_eq!(
            resources["LoadBalancer"]["Properties"]["Subnets"],
            json!(["subnet-a", "subnet-b"])
        );
        assert!(template["Parameters"].get("Subnets").is_none());
        assert!(!resources.contains_key("RepositoryApi"));
        assert!(resources.contains_key("RepositoryWeb"));

        // Rolling apps whose target groups are named need nothing on the load balancer.
        let mut rolling = super::tests::apps();
        for app in &mut rolling {
            app.target_groups = vec![format!(
                "arn:aws:elasticloadbalancing:eu-central-1:1:targetgroup/{}/1",
                app.name
            )];
        }
        let rolling = super::template(&Scaffold {
            apps: rolling,
            two_colours: false,
            ..scaffold()
        });
        let resources = rolling["Resources"].as_object().unwrap();
        for absent in [
            "LoadBalancer",
            "Listener",
            "RuleWeb",
            "RuleApi",
            "LoadBalancerSecurityGroup",
        ] {
            assert!(!resources.contains_key(absent), "{absent} was made");
        }
    }
}
