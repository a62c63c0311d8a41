//! `serve --demo`: a realistic first-run data set and an admin whose password is printed once.

use crate::domain::names::new_device_uuid;
use crate::domain::scope::Role;
use crate::domain::token::random_base62;
use crate::store::Store;
use crate::store::account::Account;
use crate::store::devices::Device;
use crate::store::fleets::Fleet;
use crate::store::users::NewUser;

const FLEETS: [(&str, &str, &str); 4] = [
    ("demo", "Demo fleet", "Devices to try the console with"),
    (
        "warehouse",
        "Warehouse sensors",
        "Temperature and humidity sensors in the logistics centres",
    ),
    (
        "retail",
        "Retail kiosks",
        "Self-service kiosks in the stores",
    ),
    ("edge", "Edge gateways", "Gateways at the factory sites"),
];
const CITIES: [&str; 8] = [
    "berlin", "lisbon", "oslo", "austin", "osaka", "lyon", "porto", "denver",
];
const KINDS: [&str; 5] = ["gateway", "sensor", "kiosk", "camera", "router"];
const TAGS: [&str; 6] = ["prod", "staging", "lab", "north", "south", "beta"];

/// The device of fleet `demo` that the README's API examples use.
pub const EXAMPLE_DEVICE: &str = "d-1a2b-3c4d";

/// Seeds fleets, ~300 devices and an `admin` user when the database has no users yet.
pub async fn seed_if_empty(store: &Store) -> anyhow::Result<()> {
    if !store.users().await?.is_empty() {
        println!("demo: the database already has users; nothing seeded");
        return Ok(());
    }
    let now = crate::domain::now();
    let today = crate::domain::expiry::today(time::OffsetDateTime::now_utc());
    store
        .set_account(&Account {
            name: "Acme Devices Ltd".into(),
            plan: "Enterprise".into(),
            renewal_date: crate::domain::expiry::format_date(today + time::Duration::days(365)),
        })
        .await?;
    for (key, name, description) in FLEETS {
        store
            .create_fleet(
                &Fleet {
                    key: key.into(),
                    name: name.into(),
                    description: description.into(),
                },
                now,
            )
            .await?;
    }
    let mut devices = demo_devices(now, 300);
    // The README's examples name this device of fleet `demo`.
    devices.retain(|d| d.uuid != EXAMPLE_DEVICE);
    if let Some(first) = devices.iter_mut().find(|d| d.fleet_key == "demo") {
        first.uuid = EXAMPLE_DEVICE.into();
    }
    store.insert_devices(&devices).await?;
    let password = random_base62(20);
    let hash = crate::auth::password::hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_user(
            &NewUser {
                username: "admin",
                email: "admin@example.com",
                display_name: "Demo Admin",
                role: Role::Admin,
                password_hash: &hash,
            },
            now,
        )
        .await?;
    println!(
        "demo: seeded {} fleets and {} devices",
        FLEETS.len(),
        devices.len()
    );
    println!("demo: sign in as admin with password {password}  (shown once)");
    Ok(())
}

/// `n` plausible devices spread over the demo fleets.
pub fn demo_devices(now: i64, n: usize) -> Vec<Device> {
    (0..n)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let city = CITIES[(i / KINDS.len()) % CITIES.len()];
            let fleet = FLEETS[i % FLEETS.len()].0;
            let tags = vec![
                TAGS[i % TAGS.len()].to_owned(),
                TAGS[(i / 3 + 3) % TAGS.len()].to_owned(),
            ];
            let mut tags = tags;
            tags.dedup();
            let i64_i = i64::try_from(i).unwrap_or(0);
            Device {
                uuid: new_device_uuid(),
                fleet_key: fleet.into(),
                name: format!("{kind}-{city}-{:03}", i + 1),
                group_name: format!("{city}-{}", if i % 2 == 0 { "a" } else { "b" }),
                tags: Device::frame_tags(&tags),
                description: format!("{kind} in {city}"),
                ip: format!("10.{}.{}.{}", i % 200, (i / 7) % 250, 10 + i % 240),
                agent_version: format!("7.{}.{}", i % 4, i % 10),
                // Most devices checked in recently; every seventh has been silent for two days.
                last_keepalive: Some(if i % 7 == 0 {
                    now - 172_800
                } else {
                    now - (i64_i * 37) % 3600
                }),
                registered_at: now - 86_400 * (1 + i64_i % 400),
            }
        })
        .collect()
}
