//! [`Role`]: which of the shop's services a process runs, with its default port and the
//! variables that locate it.

use std::fmt;

use wire::ShopService;

/// One of the shop's services; `shop <role>` runs it (each variant is a subcommand, its doc the
/// help text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::Subcommand, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The single entry point: forwards `/api/*`, aggregates health, limits clients.
    Gateway,
    /// Accounts and tokens.
    Users,
    /// The catalogue.
    Products,
    /// Stock and reservations.
    Inventory,
    /// Orders: validates, reserves, stores, publishes `order.created`.
    Orders,
    /// Consumes `order.created` and records one notification per order.
    Notifications,
}

impl Role {
    /// Every role, in start order: leaves first, then orders, then the gateway.
    pub const ALL: [Role; 6] =
        [Role::Users, Role::Products, Role::Inventory, Role::Notifications, Role::Orders, Role::Gateway];

    /// The services behind the gateway, in the order its health lists them.
    pub const UPSTREAMS: [Role; 5] = [Role::Users, Role::Products, Role::Orders, Role::Inventory, Role::Notifications];

    /// The service as every process names it ([`ShopService`]): the two sets are tied by these
    /// exhaustive matches, so a service added to one and not the other does not compile.
    pub fn service(self) -> ShopService {
        match self {
            Role::Gateway => ShopService::Gateway,
            Role::Users => ShopService::Users,
            Role::Products => ShopService::Products,
            Role::Inventory => ShopService::Inventory,
            Role::Orders => ShopService::Orders,
            Role::Notifications => ShopService::Notifications,
        }
    }

    /// The name used in metrics, logs, schemas and process names.
    pub fn name(self) -> &'static str {
        self.service().name()
    }

    /// The port it listens on unless `SHOP_<ROLE>_PORT` says otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Role::Gateway => 8100,
            Role::Users => 8101,
            Role::Products => 8102,
            Role::Inventory => 8103,
            Role::Orders => 8104,
            Role::Notifications => 8105,
        }
    }

    /// `SHOP_GATEWAY_PORT`, `SHOP_USERS_PORT`, ...
    pub fn port_var(self) -> String {
        format!("SHOP_{}_PORT", self.name().to_uppercase())
    }

    /// `USERS_URL`, `PRODUCTS_URL`, ...: where the other services reach it.
    pub fn url_var(self) -> String {
        format!("{}_URL", self.name().to_uppercase())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<ShopService> for Role {
    fn from(service: ShopService) -> Self {
        match service {
            ShopService::Gateway => Role::Gateway,
            ShopService::Users => Role::Users,
            ShopService::Products => Role::Products,
            ShopService::Inventory => Role::Inventory,
            ShopService::Orders => Role::Orders,
            ShopService::Notifications => Role::Notifications,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_are_the_shop_services_in_start_order() {
        assert_eq!(Role::ALL.map(Role::service).as_slice(), ShopService::ALL);
        for service in ShopService::ALL {
            assert_eq!(Role::from(*service).service(), *service);
        }
    }
}
