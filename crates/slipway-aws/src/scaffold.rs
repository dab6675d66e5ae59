//! `slipway aws scaffold`: a CloudFormation template with what an ECS environment needs before
//! its first deploy: ECR repositories (scan on push, a lifecycle that keeps the last releases),
//! the cluster, the log group, the execution and task roles, an ALB with two target groups per
//! app (blue, green) behind one listener (the `/` app on its default action, the others on path
//! rules) and a test listener that reaches the green ones the same way. Services are not in it: the first `slipway deploy` creates them with their task
//! definitions. Pure: it is printed for a person to review and apply, never applied here.

use serde_json::{Value, json};

use crate::secrets::SecretSource;

/// The load balancer's port for the idle colour (the test listener).
const TEST_PORT: u16 = 8081;

#[derive(Debug, Clone)]
pub struct ScaffoldApp {
    pub name: String,
    pub port: Option<u16>,
    pub health_path: Option<String>,
    /// The app's route path prefix; `/` takes the listener's default action.
    pub route_path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Scaffold {
    pub project: String,
    pub environment: String,
    pub cluster: String,
    pub log_group: String,
    pub apps: Vec<ScaffoldApp>,
    pub secrets: Vec<SecretSource>,
    /// Images each repository keeps.
    pub keep_images: u32,
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

/// Forwards to the blue target group; slipway's first deploy starts there and writes weighted
/// forwards (blue, green) from then on.
fn forward(blue: &str) -> Value {
    json!([{ "Type": "forward", "TargetGroupArn": { "Ref": blue } }])
}

pub fn template(scaffold: &Scaffold) -> Value {
    let mut resources = serde_json::Map::new();
    let mut outputs = serde_json::Map::new();
    let tags = json!([
        { "Key": "slipway:project", "Value": scaffold.project },
        { "Key": "slipway:environment", "Value": scaffold.environment },
    ]);
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
    let lifecycle = json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the last {} images", scaffold.keep_images),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": scaffold.keep_images },
            "action": { "type": "expire" }
        }]
    });
    for app in &scaffold.apps {
        resources.insert(
            logical(&["Repository", &app.name]),
            json!({
                "Type": "AWS::ECR::Repository",
                "Properties": {
                    "RepositoryName": format!("{}/{}", scaffold.project, app.name),
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
    resources.insert("ExecutionRole".into(), execution);
    resources.insert(
        "TaskRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": { "AssumeRolePolicyDocument": assume, "Tags": tags }
        }),
    );
    resources.insert(
        "LoadBalancerSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": format!("{} {}: the load balancer", scaffold.project, scaffold.environment),
                "VpcId": { "Ref": "VpcId" },
                "SecurityGroupIngress": [
                    { "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0" },
                    { "IpProtocol": "tcp", "FromPort": TEST_PORT, "ToPort": TEST_PORT, "CidrIp": { "Ref": "TestCidr" } }
                ],
                "Tags": tags
            }
        }),
    );
    let ports: std::collections::BTreeSet<u16> =
        scaffold.apps.iter().filter_map(|a| a.port).collect();
    resources.insert(
        "TaskSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": format!("{} {}: the tasks, reached from the load balancer only", scaffold.project, scaffold.environment),
                "VpcId": { "Ref": "VpcId" },
                "SecurityGroupIngress": ports.iter().map(|port| json!({
                    "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                    "SourceSecurityGroupId": { "Ref": "LoadBalancerSecurityGroup" }
                })).collect::<Vec<_>>(),
                "Tags": tags
            }
        }),
    );
    resources.insert(
        "LoadBalancer".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Type": "application",
                "Scheme": "internet-facing",
                "Subnets": { "Ref": "Subnets" },
                "SecurityGroups": [{ "Ref": "LoadBalancerSecurityGroup" }],
                "Tags": tags
            }
        }),
    );
    let routed: Vec<&ScaffoldApp> = scaffold.apps.iter().filter(|a| a.port.is_some()).collect();
    let mut default_action = json!([{
        "Type": "fixed-response",
        "FixedResponseConfig": { "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no app is routed here" }
    }]);
    let mut test_default_action = default_action.clone();
    let mut priority = 10;
    let mut rules = Vec::new();
    for app in &routed {
        let groups = [
            logical(&["TargetGroup", &app.name, "blue"]),
            logical(&["TargetGroup", &app.name, "green"]),
        ];
        for group in &groups {
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
        }
        let path = app.route_path.clone().unwrap_or_else(|| "/".into());
        // The test listener forwards to green, the same way: it keeps both target groups on the
        // load balancer (ECS refuses a service on a target group that is on none) and lets a
        // person try the idle colour before it takes traffic.
        if path == "/" {
            test_default_action = forward(&groups[1]);
        } else {
            let prefix = path.trim_end_matches('/');
            resources.insert(
                logical(&["TestRule", &app.name]),
                json!({
                    "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                    "Properties": {
                        "ListenerArn": { "Ref": "TestListener" },
                        "Priority": priority,
                        "Conditions": [{ "Field": "path-pattern", "PathPatternConfig": { "Values": [prefix, format!("{prefix}/*")] } }],
                        "Actions": forward(&groups[1])
                    }
                }),
            );
        }
        let router = if path == "/" {
            default_action = forward(&groups[0]);
            json!({ "Ref": "Listener" })
        } else {
            let rule = logical(&["Rule", &app.name]);
            let prefix = path.trim_end_matches('/');
            resources.insert(
                rule.clone(),
                json!({
                    "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                    "Properties": {
                        "ListenerArn": { "Ref": "Listener" },
                        "Priority": priority,
                        "Conditions": [{ "Field": "path-pattern", "PathPatternConfig": { "Values": [prefix, format!("{prefix}/*")] } }],
                        "Actions": forward(&groups[0])
                    }
                }),
            );
            priority += 10;
            rules.push(rule.clone());
            json!({ "Ref": rule })
        };
        outputs.insert(
            logical(&[&app.name, "Listener"]),
            json!({ "Description": format!("`listener` of [environments.{}.target.apps.{}]", scaffold.environment, app.name), "Value": router }),
        );
        outputs.insert(
            logical(&[&app.name, "TargetGroups"]),
            json!({
                "Description": format!("`target_groups` of [environments.{}.target.apps.{}] (blue, green)", scaffold.environment, app.name),
                "Value": { "Fn::Join": [",", [{ "Ref": groups[0] }, { "Ref": groups[1] }]] }
            }),
        );
    }
    resources.insert(
        "Listener".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": { "Ref": "LoadBalancer" },
                "Port": 80,
                "Protocol": "HTTP",
                "DefaultActions": default_action
            }
        }),
    );
    resources.insert(
        "TestListener".into(),
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": { "Ref": "LoadBalancer" },
                "Port": TEST_PORT,
                "Protocol": "HTTP",
                "DefaultActions": test_default_action
            }
        }),
    );
    outputs.insert("Cluster".into(), json!({ "Value": { "Ref": "Cluster" } }));
    outputs.insert(
        "ExecutionRoleArn".into(),
        json!({ "Value": { "Fn::GetAtt": ["ExecutionRole", "Arn"] } }),
    );
    outputs.insert(
        "TaskRoleArn".into(),
        json!({ "Value": { "Fn::GetAtt": ["TaskRole", "Arn"] } }),
    );
    outputs.insert(
        "TaskSecurityGroup".into(),
        json!({ "Value": { "Ref": "TaskSecurityGroup" } }),
    );
    outputs.insert(
        "LoadBalancerUrl".into(),
        json!({ "Value": { "Fn::Sub": "http://${LoadBalancer.DNSName}" } }),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("What the `{}` environment of {} needs on ECS before its first slipway deploy (written by slipway aws scaffold)", scaffold.environment, scaffold.project),
        "Parameters": {
            "VpcId": { "Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the load balancer and the tasks" },
            "Subnets": { "Type": "List<AWS::EC2::Subnet::Id>", "Description": "At least two subnets in different zones" },
            "TestCidr": { "Type": "String", "Default": "10.0.0.0/8", "Description": "Who may reach the test listener (the idle colour)" }
        },
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

    #[test]
    fn the_root_app_takes_the_default_action_and_others_get_path_rules() {
        let template = template(&Scaffold {
            project: "shop".into(),
            environment: "prod".into(),
            cluster: "shop-prod".into(),
            log_group: "/ecs/shop-prod".into(),
            apps: vec![
                ScaffoldApp {
                    name: "api".into(),
                    port: Some(8000),
                    health_path: Some("/health".into()),
                    route_path: Some("/api".into()),
                },
                ScaffoldApp {
                    name: "web".into(),
                    port: Some(8080),
                    health_path: None,
                    route_path: Some("/".into()),
                },
            ],
            secrets: vec![SecretSource::Ssm("/shop/prod/db".into())],
            keep_images: 10,
        });
        let resources = &template["Resources"];
        assert_eq!(
            resources["Listener"]["Properties"]["DefaultActions"][0]["TargetGroupArn"]["Ref"],
            "TargetGroupWebBlue"
        );
        assert_eq!(
            resources["RuleApi"]["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"],
            json!(["/api", "/api/*"])
        );
        assert_eq!(
            template["Outputs"]["ApiListener"]["Value"]["Ref"],
            "RuleApi"
        );
        assert!(
            resources["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                .to_string()
                .contains("parameter/shop/prod/db")
        );
    }
}
