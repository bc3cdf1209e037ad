//! The names that cross process boundaries, defined once: target-app, the shop and the harness
//! all speak them (in chaos API requests, `/health/{name}`, metric labels, scenario files), so a
//! new dependency, service or fault kind is added here and the compiler finds every `match` to
//! extend. No I/O: plain enums with their wire names, and the message shapes built from them
//! (the chaos API's fault request in [`chaos`], Toxiproxy's toxics in [`toxic`]).

/// Declares a closed set of names: the enum, its `ALL`, `NAMES`, `name()`, `Display` and
/// `FromStr`.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$doc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every one, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name on the wire.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Every wire name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.name() == text).ok_or_else(|| {
                    format!("{text:?} is not one of {}", Self::NAMES.join(", "))
                })
            }
        }
    };
}

pub mod chaos;
pub mod toxic;

names!(
    /// A system target-app depends on: its breakers, chaos faults and `/health/{name}` use these.
    Dependency {
        /// Vault (OpenBao).
        Vault = "vault",
        /// PostgreSQL.
        Postgres = "postgres",
        /// MySQL/MariaDB.
        Mysql = "mysql",
        /// MongoDB.
        Mongodb = "mongodb",
        /// The Redis Cluster.
        Redis = "redis",
        /// RabbitMQ.
        Rabbitmq = "rabbitmq",
    }
);

names!(
    /// One of the shop's services, in start order: those the others call first, the gateway
    /// last.
    ShopService {
        /// Accounts and tokens.
        Users = "users",
        /// The catalogue.
        Products = "products",
        /// Stock and reservations.
        Inventory = "inventory",
        /// Consumes `order.created`.
        Notifications = "notifications",
        /// Validates, reserves, stores, publishes.
        Orders = "orders",
        /// The single entry point.
        Gateway = "gateway",
    }
);

names!(
    /// What a chaos fault on a shop service may name: a service it calls, Vault or RabbitMQ. A
    /// fault naming something the service never calls does nothing there.
    ShopFaultTarget {
        /// Calls to the users service.
        Users = "users",
        /// Calls to the products service.
        Products = "products",
        /// Calls to the orders service.
        Orders = "orders",
        /// Calls to the inventory service.
        Inventory = "inventory",
        /// Calls to the notifications service.
        Notifications = "notifications",
        /// Vault reads.
        Vault = "vault",
        /// RabbitMQ publishes and consumes.
        Rabbitmq = "rabbitmq",
    }
);

names!(
    /// What an injected chaos fault does to a call.
    FaultKind {
        /// The call fails at once, as if the dependency refused.
        Error = "error",
        /// The call is delayed by `latency_ms`, then runs.
        Latency = "latency",
        /// The call hangs until its timeout fires.
        Timeout = "timeout",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for dependency in Dependency::ALL {
            assert_eq!(dependency.name().parse::<Dependency>(), Ok(*dependency));
            assert_eq!(serde_json::to_value(dependency).unwrap(), dependency.name());
        }
        assert_eq!(ShopService::NAMES, ["users", "products", "inventory", "notifications", "orders", "gateway"]);
        for (service, name) in ShopService::ALL.iter().zip(ShopService::NAMES) {
            assert_eq!(service.name(), *name);
        }
        let refused = "oracle".parse::<Dependency>().unwrap_err();
        assert_eq!(refused, "\"oracle\" is not one of vault, postgres, mysql, mongodb, redis, rabbitmq");
        assert_eq!(serde_json::from_str::<FaultKind>("\"latency\"").unwrap(), FaultKind::Latency);
    }

    #[test]
    fn a_shop_fault_names_every_service_but_the_gateway() {
        for service in ShopService::ALL.iter().filter(|s| **s != ShopService::Gateway) {
            assert!(service.name().parse::<ShopFaultTarget>().is_ok(), "{service}");
        }
        assert!("gateway".parse::<ShopFaultTarget>().is_err());
    }
}
