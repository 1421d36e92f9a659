//! `weft web`: the URL of the node's web page, with its access token in the fragment;
//! opened with `xdg-open` when there is a display.

use std::path::Path;

use crate::api::client::Client;

use super::output::print_json;

/// `weft web [--rotate] [--print]`.
pub async fn web(
    client: &Client,
    data_dir: &Path,
    rotate: bool,
    print: bool,
    json: bool,
) -> anyhow::Result<()> {
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
        let opened = opener(data_dir, &info.url).and_then(|file| {
            std::process::Command::new("xdg-open")
                .arg(&file)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
        });
        match opened {
            Ok(_) => eprintln!("opened in your browser"),
            Err(e) => eprintln!("could not open a browser ({e}); open the URL above"),
        }
    }
    Ok(())
}

/// A page in the data dir, readable by its owner only, that sends the browser on to `url`:
/// the browser is handed this file's path, never the URL, so the token is on no command
/// line other local users could read (xdg-open's, or a browser it starts).
fn opener(data_dir: &Path, url: &str) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("web-open.html");
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    // The URL is ours (address and hex token): nothing in it needs escaping in HTML.
    writeln!(
        file,
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>weft</title><a href=\"{url}\">open the weft page</a>"
    )?;
    Ok(path)
}

/// Whether a graphical session is there to open a browser in.
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}
