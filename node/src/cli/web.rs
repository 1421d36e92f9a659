//! `weft web`: the URL of the node's web page, with its access token in the fragment;
//! opened with `xdg-open` when there is a display.

use crate::api::client::Client;

use super::output::print_json;

/// `weft web [--rotate] [--print]`.
pub async fn web(client: &Client, rotate: bool, print: bool, json: bool) -> anyhow::Result<()> {
    let info = if rotate {
        client.web_rotate().await?
    } else {
        client.web().await?
    };
    if json {
        return print_json(&info);
    }
    println!("{}", info.url);
    if rotate {
        eprintln!("new token: the page's earlier URL opens nothing from now on");
    }
    if !print && has_display() {
        // The URL (with its token) is on xdg-open's command line for a moment, where other
        // local users can see it; `--print` avoids that on a shared machine.
        match std::process::Command::new("xdg-open")
            .arg(&info.url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(_) => eprintln!("opened in your browser"),
            Err(e) => eprintln!("could not open a browser ({e}); open the URL above"),
        }
    }
    Ok(())
}

/// Whether a graphical session is there to open a browser in.
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}
