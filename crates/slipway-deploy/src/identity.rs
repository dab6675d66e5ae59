//! Who a release names as its starter: the OS account running slipway (its real uid, never
//! `$USER`), or what a pipeline's runner says once its run history confirms the claim.

/// The name of the OS account running this process: its real uid (from the kernel, in
/// /proc/self/status) looked up in /etc/passwd, `uid N` for an account not listed there. Never
/// `$USER` or `$LOGNAME`, which whoever runs the command sets as they like.
pub fn user_name() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| real_uid(&status));
    let Some(uid) = uid else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| account_name(&passwd, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The real uid of a /proc/PID/status text (`Uid:` real, effective, saved, fs).
pub fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The name /etc/passwd gives `uid`.
pub fn account_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2].parse() == Ok(uid) && !fields[0].is_empty())
            .then(|| fields[0].to_owned())
    })
}

/// `user@host` of the person running this command.
pub fn actor() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{}@{host}", user_name())
}

/// Who starts a release: for the `deploy` step of a pipeline run, what its runner says
/// (`SLIPWAY_STARTED_BY`, the approver of its gate) once `carrying_out_deploy` confirms that
/// run (`SLIPWAY_RUN`) is carrying out a deploy step now, since the variables alone are
/// anyone's to set; otherwise the person at this terminal.
pub fn started_by(carrying_out_deploy: impl FnOnce(i64) -> bool) -> String {
    let claimed = std::env::var("SLIPWAY_STARTED_BY")
        .ok()
        .filter(|s| !s.is_empty());
    let run = std::env::var("SLIPWAY_RUN")
        .ok()
        .and_then(|id| id.parse::<i64>().ok());
    match (claimed, run) {
        (Some(claimed), Some(run)) if carrying_out_deploy(run) => claimed,
        _ => actor(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_comes_from_the_real_uid_and_the_password_file() {
        let status = "Name:\tslipway\nUid:\t1000\t0\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(real_uid(status), Some(1000));
        let passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1000:1000::/home/ada:/bin/sh\n";
        assert_eq!(account_name(passwd, 1000).as_deref(), Some("ada"));
        assert_eq!(account_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(account_name(passwd, 1001), None);
    }
}
