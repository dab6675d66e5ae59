"""AWS side of the ECS tests, through boto3 against the test bed's moto_server: a client
independent of slipway, to set up what a team already has (VPC, cluster, ALB, secrets) and to read
back what a deploy left behind.

    moto.py setup NAME            creates it all; prints the ARNs and IDs as JSON
    moto.py state CLUSTER [LISTENER_OR_RULE]
                                  prints services, their task definitions and the weights
    moto.py stack NAME TEMPLATE   a VPC and the secrets, then TEMPLATE as stack NAME; prints its outputs
    moto.py repository NAME       prints an ECR repository and its lifecycle policy
    moto.py metrics LISTENER TARGET_GROUP REQUESTS ERRORS SECONDS
                                  ALB metrics of the target group, every half second from now
    moto.py families PREFIX       prints the task definition ARNs whose family starts with PREFIX
    moto.py schedules PREFIX      prints the EventBridge schedules whose names start with PREFIX,
                                  each as GetSchedule answers
    moto.py foreign-schedule NAME a schedule that is not slipway's (another team's, to SQS)
    moto.py course NAME           what a course project's ECS files name: cluster NAME, a VPC, a
                                  target group per app, SSM parameters under /NAME/backend-flask/,
                                  and an image in each app's ECR repository; prints it as JSON
    moto.py log-groups PREFIX     prints the CloudWatch Logs groups whose name starts with PREFIX
    moto.py put-logs GROUP STREAM EVENTS
                                  writes EVENTS (JSON [[AGE_SECONDS, MESSAGE], ...]) into STREAM
                                  (created, as the awslogs driver creates it), each AGE_SECONDS ago
"""

import json
import os
import sys

import boto3

REGION = "eu-central-1"


def client(service):
    return boto3.client(
        service,
        endpoint_url=os.environ["SLIPWAY_TEST_AWS_ENDPOINT"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def setup(name):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.1.0/24", REGION + "a"), ("10.0.2.0/24", REGION + "b"))
    ]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    client("ecs").create_cluster(clusterName=name)
    elb = client("elbv2")
    balancer = elb.create_load_balancer(
        Name=name[:32], Subnets=subnets, SecurityGroups=[group], Scheme="internal", Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    groups = [
        elb.create_target_group(
            Name=(name[:24] + "-" + colour)[:32],
            Protocol="HTTP",
            Port=8000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]
        for colour in ("blue", "green")
    ]
    listener = elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
    )["Listeners"][0]["ListenerArn"]
    # Several apps behind one listener: the api's own rule, by path.
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
    )["Rules"][0]["RuleArn"]
    parameter = "/%s/db_password" % name
    client("ssm").put_parameter(Name=parameter, Value="ssm-secret-value-" + name, Type="SecureString")
    secret = client("secretsmanager").create_secret(
        Name=name + "/stripe", SecretString="sm-secret-value-" + name
    )["ARN"]
    parameter_arn = client("ssm").get_parameter(Name=parameter)["Parameter"]["ARN"]
    print(
        json.dumps(
            {
                "subnets": subnets,
                "security_group": group,
                "target_groups": groups,
                "listener": listener,
                "rule": rule,
                "parameter": parameter,
                "parameter_arn": parameter_arn,
                "secret_arn": secret,
            }
        )
    )


def stack(name, template_file):
    """A VPC with two subnets and the secrets, then the template as a CloudFormation stack."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.2.1.0/24", REGION + "a"), ("10.2.2.0/24", REGION + "b"))
    ]
    client("ssm").put_parameter(Name="/%s/db_password" % name, Value="ssm-secret-value", Type="SecureString")
    client("secretsmanager").create_secret(Name=name + "/stripe", SecretString="sm-secret-value")
    formation = client("cloudformation")
    formation.create_stack(
        StackName=name,
        TemplateBody=open(template_file).read(),
        Parameters=[
            {"ParameterKey": "VpcId", "ParameterValue": vpc},
            {"ParameterKey": "Subnets", "ParameterValue": ",".join(subnets)},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    found = formation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    print(json.dumps({"status": found["StackStatus"], "outputs": outputs, "subnets": subnets}))


def state(cluster, listener=None):
    ecs = client("ecs")
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    services = {}
    definitions = {}
    if arns:
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"]:
            services[service["serviceName"]] = {
                "taskDefinition": service.get("taskDefinition"),
                "desiredCount": service.get("desiredCount"),
                "deploymentConfiguration": service.get("deploymentConfiguration"),
                "loadBalancers": service.get("loadBalancers"),
                "networkConfiguration": service.get("networkConfiguration"),
                "launchType": service.get("launchType"),
            }
            arn = service.get("taskDefinition")
            if arn and arn not in definitions:
                definitions[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    weights = {}
    if listener:
        if ":listener-rule/" in listener:
            actions = client("elbv2").describe_rules(RuleArns=[listener])["Rules"][0]["Actions"]
        else:
            actions = client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
        for action in actions:
            for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
                weights[group["TargetGroupArn"]] = group.get("Weight", 1)
            if "ForwardConfig" not in action and "TargetGroupArn" in action:
                weights[action["TargetGroupArn"]] = 1
    print(json.dumps({"services": services, "taskDefinitions": definitions, "weights": weights}, default=str))


def repository(name):
    ecr = client("ecr")
    found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    policy = ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
    print(json.dumps({"repository": found, "lifecycle": json.loads(policy)}, default=str))


def metrics(listener, target_group, requests, errors, seconds):
    """ALB metrics of a target group, a data point every half second from now for SECONDS."""
    import datetime
    balancer = "/".join(listener.split(":listener-rule/" if ":listener-rule/" in listener else ":listener/")[1].split("/")[:3])
    group = "targetgroup/" + target_group.split(":targetgroup/")[1]
    dimensions = [{"Name": "TargetGroup", "Value": group}, {"Name": "LoadBalancer", "Value": balancer}]
    now = datetime.datetime.now(datetime.timezone.utc)
    data = []
    for i in range(int(float(seconds) * 2)):
        at = now + datetime.timedelta(seconds=i / 2)
        data.append({"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": at, "Value": float(requests), "Unit": "Count"})
        data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": at, "Value": float(errors), "Unit": "Count"})
    cloudwatch = client("cloudwatch")
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[start:start + 500])
    print(json.dumps({"points": len(data)}))


def families(prefix):
    ecs = client("ecs")
    print(json.dumps(ecs.list_task_definitions(familyPrefix=prefix)["taskDefinitionArns"]))


def schedules(prefix):
    scheduler = client("scheduler")
    found = {}
    for summary in scheduler.list_schedules(NamePrefix=prefix)["Schedules"]:
        described = scheduler.get_schedule(Name=summary["Name"])
        described.pop("ResponseMetadata", None)
        found[summary["Name"]] = described
    print(json.dumps(found, default=str))


def foreign_schedule(name):
    client("scheduler").create_schedule(
        Name=name,
        Description="nightly backup",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:sqs:%s:123456789012:backup" % REGION,
            "RoleArn": "arn:aws:iam::123456789012:role/backup",
        },
    )
    print(json.dumps({"name": name}))


def course(name):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.1.1.0/24", REGION + "a"), ("10.1.2.0/24", REGION + "b"))
    ]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    client("ecs").create_cluster(clusterName=name)
    elb = client("elbv2")
    groups = {
        app: elb.create_target_group(
            Name=(name[:20] + "-" + app.split("-")[0])[:32],
            Protocol="HTTP",
            Port=port,
            VpcId=vpc,
            TargetType="ip",
        )["TargetGroups"][0]["TargetGroupArn"]
        for app, port in (("backend-flask", 4567), ("frontend-react-js", 3000))
    }
    ssm = client("ssm")
    parameters = {}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CONNECTION_URL", "ROLLBAR_ACCESS_TOKEN", "OTEL_EXPORTER_OTLP_HEADERS"):
        parameter = "/%s/backend-flask/%s" % (name, key)
        ssm.put_parameter(Name=parameter, Value="course-secret-" + key, Type="SecureString", Overwrite=True)
        parameters[key] = ssm.get_parameter(Name=parameter)["Parameter"]["ARN"]
    ecr = client("ecr")
    images = {}
    for app in ("backend-flask", "frontend-react-js"):
        try:
            ecr.create_repository(repositoryName=app)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        uri = ecr.describe_repositories(repositoryNames=[app])["repositories"][0]["repositoryUri"]
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(name), "digest": "sha256:" + "0" * 64},
            "layers": [],
            "annotations": {"org.opencontainers.image.title": app + "-" + name},
        })
        pushed = ecr.put_image(repositoryName=app, imageManifest=manifest, imageTag=name)["image"]
        images[app] = uri + "@" + pushed["imageId"]["imageDigest"]
    print(json.dumps({"subnets": subnets, "security_group": group, "target_groups": groups, "parameters": parameters, "images": images}))


def log_groups(prefix):
    found = client("logs").describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    print(json.dumps([g["logGroupName"] for g in found]))


def put_logs(group, stream, events):
    import time
    logs = client("logs")
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now = int(time.time() * 1000)
    written = [{"timestamp": now - int(age * 1000), "message": message} for age, message in json.loads(events)]
    written.sort(key=lambda e: e["timestamp"])
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=written)
    print(json.dumps({"written": len(written)}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    commands = {
        "setup": setup,
        "stack": stack,
        "state": state,
        "families": families,
        "course": course,
        "repository": repository,
        "metrics": metrics,
        "log-groups": log_groups,
        "put-logs": put_logs,
        "schedules": schedules,
        "foreign-schedule": foreign_schedule,
    }
    commands[command](*args)
