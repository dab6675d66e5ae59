//! The dashboard's HTML: written on the server, no build step, readable on a phone. Its style
//! and its one script (live logs) are served as files from `/static/`, so the
//! Content-Security-Policy allows no inline script or style at all.

use std::fmt::Write;

/// `text` made safe inside HTML text and attribute values.
pub use slipway_core::html::escape as esc;

/// The dashboard's stylesheet, put inline in every page's head.
pub const STYLE: &str = "
*{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232b;background:#f5f6f8}
header{background:#1d232b;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;font-size:.9rem}
main{max-width:70rem;margin:0 auto;padding:1rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem;overflow-x:auto}
h1{font-size:1.2rem;margin:0}h2{font-size:1.05rem;margin:.2rem 0 .6rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eef0f2;vertical-align:top}
th{font-weight:600;color:#5a6470;font-size:.85rem}
.state{display:inline-block;padding:.05rem .45rem;border-radius:3px;font-size:.85rem;background:#e8ebef}
.succeeded,.live,.approved{background:#d7f5df;color:#135c2a}.failed,.rejected,.expired,.rolled-back,.interrupted{background:#fbe0e0;color:#8a1c1c}
.waiting,.running,.queued,.deploying,.pending{background:#fff1c9;color:#6b4b00}
form.inline{display:inline}button{font:inherit;padding:.35rem .9rem;border-radius:4px;border:1px solid #9aa4af;background:#fff;cursor:pointer}
button.go{background:#1f7a3a;color:#fff;border-color:#1f7a3a}button.stop{background:#b42318;color:#fff;border-color:#b42318}
input[type=text],input[type=password]{font:inherit;padding:.35rem;border:1px solid #9aa4af;border-radius:4px;max-width:100%}
pre{background:#10151b;color:#d8dee6;padding:.7rem;border-radius:4px;overflow-x:auto;font-size:.82rem;max-height:32rem}
.note{color:#5a6470;font-size:.9rem}.flash{background:#eef4ff;border-color:#b7cdf5}.error{background:#fdeeee;border-color:#f1b5b5}
code{font-size:.88rem}
";

/// Live logs of a run page: appends each new line of the run's event stream to the log, and
/// reloads the page when the run's state changes (new steps, buttons). The page marks the log
/// `data-live` only while the run is unfinished.
pub const RUN_SCRIPT: &str = "(function(){
const log=document.getElementById('log');
if(!log||!log.dataset.live){return}
const events=new EventSource('/runs/'+log.dataset.run+'/events?after='+log.dataset.after);
events.addEventListener('line',e=>{log.textContent+=e.data+'\\n';log.scrollTop=log.scrollHeight});
events.addEventListener('state',()=>{events.close();location.reload()});
})();
";

/// A whole page: the header names the project and who is logged in.
pub fn page(
    project: &str,
    title: &str,
    user: Option<&str>,
    csrf: Option<&str>,
    body: &str,
) -> String {
    let who = match (user, csrf) {
        (Some(user), Some(csrf)) => format!(
            "<span class=who>{} <form class=inline method=post action=/logout><input type=hidden name=csrf value=\"{}\"><button>Log out</button></form></span>",
            esc(user),
            esc(csrf)
        ),
        (Some(user), None) => format!("<span class=who>{}</span>", esc(user)),
        (None, _) => "<span class=who><a href=/login>Log in</a></span>".to_owned(),
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>{} · {}</title><link rel=stylesheet href=/static/slipway.css></head><body><header><h1><a href=/>{}</a></h1><a href=/>Dashboard</a><a href=/audit>Audit</a>{who}</header><main>{body}</main></body></html>",
        esc(title),
        esc(project),
        esc(project),
    )
}

/// A run's or step's state as a label, coloured by the stylesheet's class of that state.
pub fn state(text: &str) -> String {
    format!("<span class=\"state {0}\">{0}</span>", esc(text))
}

/// A POST button with the session's CSRF token (and an optional comment field).
pub fn button(action: &str, label: &str, class: &str, csrf: Option<&str>, comment: bool) -> String {
    let mut out = format!("<form class=inline method=post action=\"{}\">", esc(action));
    if let Some(csrf) = csrf {
        let _ = write!(out, "<input type=hidden name=csrf value=\"{}\">", esc(csrf));
    }
    if comment {
        out.push_str("<input type=text name=comment placeholder=\"comment (optional)\"> ");
    }
    let _ = write!(
        out,
        "<button class={class} name=action value=\"{}\">{}</button></form>",
        esc(label).to_lowercase(),
        esc(label)
    );
    out
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` in UTC, as the pages show times.
pub fn time(at: i64) -> String {
    slipway_core::time::rfc3339(at.max(0) as u64)
        .replace('T', " ")
        .replace('Z', "")
}

/// The first 12 characters of a commit id or digest, as pages show them.
pub fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_names_is_shown_not_run() {
        assert_eq!(
            super::esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
