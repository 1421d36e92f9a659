//! The API's routes for the web page: where it is (`GET /v1/web`), a new token
//! (`POST /v1/web/token`, what `weft web --rotate` calls) and a QR code of a text as SVG
//! (`POST /v1/qr`, drawn by the page for invite keys).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, body::Bytes};

use super::server::{Failure, bad_request};
use crate::web::WebDoor;

/// Longest text drawn as a QR code (an invite key is far shorter).
const MAX_QR_BYTES: usize = 2048;

/// The routes, over the page's door when the node serves one.
pub fn routes(door: Option<WebDoor>) -> Router {
    Router::new()
        .route("/v1/web", get(info))
        .route("/v1/web/token", post(rotate))
        .route("/v1/qr", post(qr))
        .with_state(door)
}

fn door(door: Option<WebDoor>) -> Result<WebDoor, Failure> {
    door.ok_or_else(|| {
        Failure(
            StatusCode::NOT_FOUND,
            "this node serves no web page: start it with `--web 127.0.0.1:7480`, or set `web = \"127.0.0.1:7480\"` in weft.toml".into(),
        )
    })
}

async fn info(State(d): State<Option<WebDoor>>) -> Result<impl IntoResponse, Failure> {
    Ok(Json(door(d)?.info()))
}

async fn rotate(State(d): State<Option<WebDoor>>) -> Result<impl IntoResponse, Failure> {
    let d = door(d)?;
    d.tokens.rotate()?;
    Ok(Json(d.info()))
}

async fn qr(body: Bytes) -> Result<impl IntoResponse, Failure> {
    if body.len() > MAX_QR_BYTES {
        return Err(bad_request(format!(
            "at most {MAX_QR_BYTES} bytes fit a QR code here"
        )));
    }
    let code = qrcode::QrCode::new(&body).map_err(|e| bad_request(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // An image, never a document: nothing in it may run or load.
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        svg,
    ))
}
