//! The rule catalogue: every check has a stable ID, a name, a default severity, a one-line
//! summary and a fix hint. docs/rules/<ID>.md explains each one at length.

use slipway_core::Severity;

/// A rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable ID, e.g. `DF001`, used to ignore it.
    pub id: &'static str,
    /// Short name, e.g. `base-official-image`.
    pub name: &'static str,
    /// Severity unless `[lint] severity` changes it.
    pub severity: Severity,
    /// What it finds, in one line.
    pub summary: &'static str,
    /// How to fix what it finds.
    pub help: &'static str,
}

use Severity::{Error, Info, Warning};

macro_rules! rules {
    ($($id:literal $name:literal $sev:ident $summary:literal $help:literal;)*) => {
        /// Every rule, in ID order.
        pub const RULES: &[Rule] = &[$(Rule { id: $id, name: $name, severity: $sev, summary: $summary, help: $help }),*];
    };
}

rules! {
    "DF000" "dockerfile-syntax" Error "the Dockerfile cannot be parsed" "fix the syntax; the builder would reject it too";
    "DF001" "base-official-image" Error "a base image builds FROM an image that is not official" "build bases FROM an official image (debian, python, nginx, php, node...) or add its registry prefix to [lint] official_registries";
    "DF002" "from-pinned-tag" Error "FROM an image without a tag, or with `latest`" "pin an explicit tag such as `debian:bookworm-20251117-slim`";
    "DF003" "app-from-project-base" Error "an app image does not build FROM the project's base image" "build the final stage FROM ${SLIPWAY_BASE} (slipway passes the pinned base) or a base image of this project";
    "DF004" "from-digest" Info "FROM is pinned by tag only" "add the digest: `image:tag@sha256:...` makes the build reproducible";
    "DF005" "alpine-image" Warning "FROM an alpine image" "prefer a Debian-based image (`-slim`): musl and short support windows cause surprises";
    "DF006" "from-platform-constant" Warning "FROM --platform with a constant value" "use --platform=$BUILDPLATFORM or $TARGETPLATFORM, or drop the flag and pass --platform to the build";
    "DF010" "final-stage-root" Warning "the final stage runs as root" "add `USER <non-root user>` to the final stage";
    "DF011" "secret-in-env-arg" Error "a secret in ENV or ARG ends up in the image" "remove it; pass secrets at run time through config/<env>/ templates, or use RUN --mount=type=secret";
    "DF012" "add-url" Warning "ADD fetches a URL" "download with RUN curl (and verify it) or use ADD --checksum=sha256:...";
    "DF013" "apt-no-recommends" Warning "apt-get install without --no-install-recommends" "add --no-install-recommends to keep the image small";
    "DF014" "apt-lists-left" Warning "apt-get install leaves the package lists in the layer" "end the same RUN with `&& rm -rf /var/lib/apt/lists/*` (or `apt-get dist-clean` on Debian 13+)";
    "DF015" "apt-upgrade" Warning "apt-get upgrade inside an image build" "update the base image tag instead; upgrades make builds unreproducible";
    "DF016" "cd-in-run" Warning "`cd` inside RUN" "use WORKDIR, or wrap the command in a subshell: (cd dir && make)";
    "DF017" "repeated-cmd" Warning "more than one CMD or ENTRYPOINT in a stage" "keep only the last one; earlier ones have no effect";
    "DF018" "shell-form-cmd" Warning "CMD or ENTRYPOINT in shell form" "use the JSON form, e.g. [\"python3\", \"-m\", \"api\"], so signals reach the process";
    "DF019" "copy-from-unknown-stage" Error "COPY --from names no earlier stage" "name a stage defined above (FROM ... AS name) or a full image reference";
    "DF020" "duplicate-stage-name" Error "two stages share a name" "give every stage a distinct AS name";
    "DF021" "no-healthcheck" Info "the final stage has no HEALTHCHECK" "add a HEALTHCHECK, or declare `health` for the app in slipway.toml";
    "DF022" "apt-unpinned" Info "apt-get install without a version" "pin versions (`curl=7.88.1-10+deb12u8`) where reproducibility matters more than security updates; versions leave Debian mirrors at point releases";
    "DF023" "pip-unpinned" Warning "pip install without a version" "pin versions (`flask==3.0.3`) or install from a requirements file";
    "DF024" "npm-unpinned" Warning "npm/yarn/pnpm package installed without a version" "pin versions (`express@4.19.2`) or install from package.json with `npm ci`";
    "DF025" "root-entrypoint-drops-user" Info "the final stage starts as root and its entrypoint drops to another user" "nothing to do when the entrypoint needs root first (volume ownership, low ports); otherwise add `USER <non-root user>`";
    "DF026" "run-pipe-no-pipefail" Warning "a pipe in RUN without pipefail" "put `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before the RUN, or start the script with `set -o pipefail` (bash, ash), so a failure before `|` fails the build";
    "DF027" "apk-unpinned" Info "apk add without a version" "pin versions (`curl=8.14.1-r2`, or `curl~8.14` for the latest patch release) where reproducibility matters more than security updates; Alpine drops old versions from its repositories";
    "DF028" "apk-cache-left" Warning "apk add without --no-cache leaves the package index in the layer" "use `apk add --no-cache`, or remove /var/cache/apk/* in the same RUN";
    "CP000" "compose-syntax" Error "the compose file cannot be read" "fix the YAML syntax";
    "CP001" "compose-image-unpinned" Warning "a compose image without a tag, or with `latest`" "pin an explicit tag or digest";
    "CP002" "compose-privileged" Error "a privileged container" "drop `privileged: true`; grant only the capabilities needed (cap_add)";
    "CP003" "compose-db-port-public" Error "a database port published on all interfaces" "publish on 127.0.0.1 (`127.0.0.1:5432:5432`) or not at all";
    "CP004" "compose-healthy-no-check" Error "depends_on waits for a health check that does not exist" "add a healthcheck to the service depended on, or use condition: service_started";
    "CP005" "compose-literal-secret" Error "a literal secret in `environment`, or a password inside a URL" "read it from the environment (`${DB_PASSWORD}`), an env_file kept out of git, or a file secret (`DB_PASSWORD_FILE=/run/secrets/db-password`)";
    "LY001" "app-code-at-root" Error "application files at the repository root" "move them under app/<name>/; the root holds slipway.toml, base/, app/, config/";
    "LY002" "env-file-tracked" Error "an env file is tracked by git" "`git rm --cached` it and keep env files out of git (slipway renders them into its state dir)";
    "LY003" "env-config-missing" Error "an environment has no config directory" "create config/<env>/ with its templates (slipway init makes them)";
    "MF000" "manifest-syntax" Error "slipway.toml is not valid TOML" "fix the TOML syntax";
    "MF001" "unknown-key" Error "a key slipway.toml does not define" "check the spelling against docs/manifest.md";
    "MF002" "wrong-type" Error "a value of the wrong type" "see docs/manifest.md for the key's type";
    "MF003" "bad-value" Error "a value outside what the key allows" "see docs/manifest.md for the allowed values";
    "MF004" "dangling-reference" Error "a name that is not defined" "define it, or fix the name";
    "MF005" "missing-path" Error "a file or directory named in slipway.toml does not exist" "create it or fix the path";
}

/// The rule with `id`, if there is one.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
