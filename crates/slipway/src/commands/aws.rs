//! `slipway aws scaffold`: the CloudFormation template an ECS environment needs before its
//! first deploy, printed for review; slipway never applies it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use slipway_aws::scaffold::{Scaffold, ScaffoldApp};
use slipway_aws::secrets::SecretSource;

use super::environment::check_environment;
use super::project::Project;

/// Amazon Web Services: what an ECS environment needs around it.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway aws scaffold prod > aws/prod.json\n  aws cloudformation deploy --template-file aws/prod.json --stack-name shop-prod \\\n    --capabilities CAPABILITY_IAM --parameter-overrides VpcId=vpc-... Subnets=subnet-a,subnet-b"
)]
pub struct AwsArgs {
    #[command(subcommand)]
    command: AwsCommand,
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum AwsCommand {
    /// Print a CloudFormation template (JSON) with what an ECS environment still needs: ECR
    /// repositories, cluster, log group, roles, the tasks' security group, a load balancer
    /// listener with a rule per app and its target groups (one per app for rolling, two for
    /// blue-green and canary). What slipway.toml names (subnets, security groups, roles, an
    /// app's listener and target groups) is used, not made. Not applied.
    #[command(
        after_help = "Examples:\n  slipway aws scaffold prod > aws/prod.json\n  slipway aws scaffold prod --keep-images 50\n  slipway aws scaffold prod --cluster-exists   an imported environment whose cluster runs already"
    )]
    Scaffold {
        environment: String,
        /// Images each ECR repository keeps (its lifecycle policy).
        #[arg(long, default_value_t = 20)]
        keep_images: u32,
        /// The cluster (and its log group) exist already: do not make them.
        #[arg(long)]
        cluster_exists: bool,
    },
}

pub fn run(args: AwsArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let manifest = &project.manifest;
    match args.command {
        AwsCommand::Scaffold {
            environment,
            keep_images,
            cluster_exists,
        } => {
            check_environment(&project, &environment)?;
            let env = &manifest.environments[&environment];
            let slipway_core::manifest::Target::Ecs(target) = &env.target else {
                bail!(
                    "environment `{environment}` runs on Docker hosts; scaffold is for ECS environments (`target = {{ kind = \"ecs\", ... }}`)"
                );
            };
            let apps: Vec<String> = match &env.apps {
                Some(listed) => listed.clone(),
                None => manifest.apps.keys().cloned().collect(),
            };
            let two_colours = matches!(
                env.strategy,
                slipway_core::manifest::Strategy::BlueGreen { .. }
                    | slipway_core::manifest::Strategy::Canary { .. }
            );
            let scaffold = Scaffold {
                two_colours,
                cluster_exists,
                subnets: target.subnets.clone(),
                security_groups: target.security_groups.clone(),
                execution_role_arn: target.execution_role_arn.clone(),
                task_role_arn: target.task_role_arn.clone(),
                project: manifest.project.name.clone(),
                environment: environment.clone(),
                cluster: target.cluster.clone(),
                log_group: target
                    .log_group
                    .clone()
                    .unwrap_or_else(|| format!("/ecs/{}-{environment}", manifest.project.name)),
                apps: apps
                    .iter()
                    .map(|name| {
                        let app = &manifest.apps[name];
                        let ecs = target.apps.get(name).cloned().unwrap_or_default();
                        ScaffoldApp {
                            name: name.clone(),
                            port: app.port,
                            health_path: app.health.as_ref().and_then(|h| h.path.clone()),
                            route_path: app.route.as_ref().and_then(|r| r.path.clone()),
                            listener: ecs.listener.clone(),
                            target_groups: ecs.target_groups.clone(),
                            repository: manifest.app_repository(name),
                            repository_exists: app.repository.is_some(),
                        }
                    })
                    .collect(),
                secrets: env
                    .secrets
                    .values()
                    .filter_map(|r| SecretSource::parse(r))
                    .collect(),
                keep_images,
            };
            let template = slipway_aws::scaffold::template(&scaffold);
            if template["Resources"]
                .as_object()
                .is_none_or(|resources| resources.is_empty())
            {
                // CloudFormation refuses a template without resources.
                eprintln!(
                    "everything environment `{environment}` needs is named in slipway.toml; nothing to create"
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}", serde_json::to_string_pretty(&template)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
