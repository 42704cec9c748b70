//! Several kiosks, one queue, as the hub sees it: devices enrolled as the sede's node or as
//! kiosks that use it, listed in the branch's feed with where the node serves them.

use crate::helpers::*;
use protocol::wire::{DevicePayload, DeviceRole, DeviceStatus, ENTITY_DEVICE, LanEndpoint};

async fn devices_in_feed(kiosk: &Kiosk, base: &str) -> Vec<(String, Option<DevicePayload>)> {
    let pulled: PullResponse = kiosk.pull(base, 0, None).await.json().await.unwrap();
    let mut last = std::collections::BTreeMap::new();
    for c in pulled.changes.iter().filter(|c| c.entity == ENTITY_DEVICE) {
        last.insert(
            c.entity_id.clone(),
            c.payload
                .clone()
                .map(|p| serde_json::from_value::<DevicePayload>(p).unwrap()),
        );
    }
    last.into_iter().collect()
}

fn status_with(lan: Option<LanEndpoint>) -> PushRequest {
    PushRequest {
        status: DeviceStatus {
            lan,
            ..DeviceStatus::default()
        },
        ..batch("inc-1", vec![])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_lists_the_sedes_devices_and_only_its_node_says_where_it_serves() {
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let node = hub.enrol_as(DeviceRole::Node).await;
    let kiosk = hub.enrol_as(DeviceRole::Kiosk).await;
    let listed = devices_in_feed(&kiosk, &base).await;
    let roles: Vec<_> = listed
        .iter()
        .map(|(id, d)| (id.clone(), d.as_ref().unwrap().role))
        .collect();
    assert!(
        roles.contains(&(node.id.clone(), DeviceRole::Node)),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(kiosk.id.clone(), DeviceRole::Kiosk)),
        "{roles:?}"
    );
    let key_of = |id: &str| {
        listed
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, d)| d.as_ref())
            .map(|d| d.public_key.clone())
            .unwrap()
    };
    assert_eq!(
        key_of(&kiosk.id),
        protocol::wire::hex(kiosk.key.verifying_key().as_bytes())
    );

    // The node says where it serves the kiosks; a kiosk saying the same is not heard.
    let lan = LanEndpoint {
        url: "https://10.0.0.2:8443".into(),
        key: "ab".repeat(32),
    };
    assert_eq!(
        node.push(&base, &status_with(Some(lan.clone())))
            .await
            .status(),
        200
    );
    let rogue = LanEndpoint {
        url: "https://10.0.0.66:8443".into(),
        key: "cd".repeat(32),
    };
    assert_eq!(
        kiosk.push(&base, &status_with(Some(rogue))).await.status(),
        200
    );
    let listed = devices_in_feed(&kiosk, &base).await;
    let lan_of = |id: &str| {
        listed
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, d)| d.as_ref())
            .and_then(|d| d.lan.clone())
    };
    assert_eq!(lan_of(&node.id), Some(lan.clone()));
    assert_eq!(lan_of(&kiosk.id), None);
    // The same report again publishes nothing new.
    let head = count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await;
    assert_eq!(
        node.push(&base, &status_with(Some(lan))).await.status(),
        200
    );
    assert_eq!(
        count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await,
        head
    );
    // A report that is not an https URL and a key is not heard, and stops no push.
    let bad = LanEndpoint {
        url: "http://10.0.0.2".into(),
        key: "ab".repeat(32),
    };
    assert_eq!(
        node.push(&base, &status_with(Some(bad))).await.status(),
        200
    );
    assert_eq!(
        count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await,
        head
    );

    // Where kiosks share the node, a second node is refused: the sede would number twice.
    let (status, body, _) = hub.try_enrol(&hub.code_for(DeviceRole::Node).await).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("promote"), "{body}");

    // A revoked kiosk leaves the branch's list.
    devices::revoke(&hub.pool.get().await.unwrap(), "admin", &kiosk.id)
        .await
        .unwrap();
    let listed = devices_in_feed(&node, &base).await;
    assert!(
        listed.iter().any(|(id, d)| id == &kiosk.id && d.is_none()),
        "{listed:?}"
    );
}
