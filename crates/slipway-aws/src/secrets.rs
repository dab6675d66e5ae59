//! Secrets kept in SSM Parameter Store (`ssm:/path`) and Secrets Manager (`secretsmanager:NAME`).
//! On ECS a secret reaches the task as a reference (its ARN in the task definition's `secrets`),
//! so a deploy only checks that it exists; on Docker hosts the value is fetched when the config
//! is rendered and never written anywhere but the 0600 env file.

use aws_config::SdkConfig;

use crate::{AwsError, Result, api};

/// A provider reference slipway understands here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An SSM parameter, by name (`/shop/db`).
    Ssm(String),
    /// A Secrets Manager secret, by name or ARN.
    SecretsManager(String),
}

impl SecretSource {
    /// `ssm:/shop/db` or `secretsmanager:shop/stripe`; `None` for other providers.
    pub fn parse(reference: &str) -> Option<SecretSource> {
        let (provider, what) = reference.split_once(':')?;
        match provider {
            "ssm" => Some(SecretSource::Ssm(what.to_owned())),
            "secretsmanager" => Some(SecretSource::SecretsManager(what.to_owned())),
            _ => None,
        }
    }
}

/// The clients that read secrets from SSM Parameter Store and Secrets Manager.
#[derive(Debug, Clone)]
pub struct Secrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    /// Clients for the account, region and endpoint of `config`.
    pub fn new(config: &SdkConfig) -> Secrets {
        Secrets {
            ssm: aws_sdk_ssm::Client::new(config),
            secrets_manager: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// The ARN a task definition's `valueFrom` names; an error when the secret does not exist.
    /// The value is never read (an SSM parameter's is never decrypted).
    pub async fn arn(&self, source: &SecretSource) -> Result<String> {
        match source {
            SecretSource::Ssm(name) => {
                let described = self
                    .ssm
                    .describe_parameters()
                    .parameter_filters(
                        aws_sdk_ssm::types::ParameterStringFilter::builder()
                            .key("Name")
                            .option("Equals")
                            .values(name)
                            .build()
                            .map_err(api("DescribeParameters"))?,
                    )
                    .send()
                    .await
                    .map_err(api("DescribeParameters"))?;
                let Some(found) = described
                    .parameters()
                    .iter()
                    .find(|p| p.name() == Some(name.as_str()))
                else {
                    return Err(AwsError::Missing(format!(
                        "the SSM parameter `{name}` does not exist; create it (aws ssm put-parameter --type SecureString --name {name} ...) or fix the reference"
                    )));
                };
                if let Some(arn) = found.arn() {
                    return Ok(arn.to_owned());
                }
                // Some endpoints leave the ARN out of DescribeParameters; GetParameter has it.
                // The value stays encrypted and is dropped.
                let got = self
                    .ssm
                    .get_parameter()
                    .name(name)
                    .with_decryption(false)
                    .send()
                    .await
                    .map_err(api("GetParameter"))?;
                Ok(got
                    .parameter()
                    .and_then(|p| p.arn())
                    .map(str::to_owned)
                    .unwrap_or_else(|| name.clone()))
            }
            SecretSource::SecretsManager(name) => {
                match self
                    .secrets_manager
                    .describe_secret()
                    .secret_id(name)
                    .send()
                    .await
                {
                    Ok(described) => described.arn().map(str::to_owned).ok_or_else(|| {
                        AwsError::Missing(format!("the secret `{name}` has no ARN"))
                    }),
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) =>
                    {
                        Err(AwsError::Missing(format!(
                            "the Secrets Manager secret `{name}` does not exist; create it or fix the reference"
                        )))
                    }
                    Err(error) => Err(api("DescribeSecret")(error)),
                }
            }
        }
    }

    /// The secret's value, decrypted. Errors never include it.
    pub async fn value(&self, source: &SecretSource) -> Result<String> {
        match source {
            SecretSource::Ssm(name) => {
                let answer = self
                    .ssm
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|error| {
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_parameter_not_found())
                        {
                            AwsError::Missing(format!("the SSM parameter `{name}` does not exist"))
                        } else {
                            api("GetParameter")(error)
                        }
                    })?;
                answer
                    .parameter()
                    .and_then(|p| p.value())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        AwsError::Missing(format!("the SSM parameter `{name}` has no value"))
                    })
            }
            SecretSource::SecretsManager(name) => {
                let answer = self
                    .secrets_manager
                    .get_secret_value()
                    .secret_id(name)
                    .send()
                    .await
                    .map_err(|error| {
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception())
                        {
                            AwsError::Missing(format!(
                                "the Secrets Manager secret `{name}` does not exist"
                            ))
                        } else {
                            api("GetSecretValue")(error)
                        }
                    })?;
                answer.secret_string().map(str::to_owned).ok_or_else(|| {
                    AwsError::Missing(format!(
                        "the secret `{name}` holds binary data; slipway reads text secrets only"
                    ))
                })
            }
        }
    }
}
