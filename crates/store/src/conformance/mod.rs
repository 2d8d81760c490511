//! The storage conformance suite (security-tests row 13, with rows 12 and D2/D4/D6 under
//! concurrency). Every backend must pass the same functions: each takes a fresh, empty
//! store and panics on a violation. [`conformance_tests!`](crate::conformance_tests)
//! turns them into `#[tokio::test]`s for one backend.

mod audit;
mod clients;
mod concurrency;
mod dashboard;
mod helpers;
mod hooks;
mod rotation;
mod runnable;
mod seal_counts;
mod secrets;
mod snapshot;

use std::any::Any;
use std::sync::Arc;

use crate::Store;

pub use audit::*;
pub use clients::*;
pub use concurrency::*;
pub use dashboard::*;
pub use hooks::*;
pub use rotation::*;
pub use runnable::*;
pub use seal_counts::*;
pub use secrets::*;
pub use snapshot::*;

/// A fresh store, plus whatever must live as long as it (a temporary directory, a
/// throw-away schema).
pub struct Harness {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Harness {
    pub fn new(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Harness {
        Harness {
            store,
            _guard: Box::new(guard),
        }
    }
}

/// Defines one `#[tokio::test]` per conformance function, each on a fresh store from
/// `$harness`: an expression evaluating to a future of [`Harness`], or of
/// `Option<Harness>` where `None` means the backend is not available here and the test
/// returns at once (the harness says why, and fails instead where that must not happen).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            hooks_crud,
            hook_names_are_unique,
            hooks_list_in_creation_order_with_pages,
            enabling_a_hook_disables_the_other_on_its_trigger,
            failed_enable_keeps_the_previous_hook_enabled,
            secrets_crud,
            secret_methods_need_the_hook,
            deleting_a_hook_deletes_its_secrets,
            secret_names_are_unique_per_hook,
            failed_multi_key_add_changes_nothing,
            failed_multi_key_update_changes_nothing,
            at_most_twenty_secrets,
            key_ids_in_use_lists_sealing_keys,
            clients_crud_and_pages,
            client_with_conflicting_grants_is_not_created,
            grants_crud_uniqueness_and_pages,
            server_keys_are_put_once,
            audit_log_filters_and_limits,
            concurrent_adds_never_exceed_twenty,
            concurrent_adds_of_one_name_create_it_once,
            concurrent_enables_leave_one_hook_enabled,
            concurrent_secret_writes_match_a_serial_order,
        );
        // The Dashboard's additions.
        $crate::conformance_tests!(@each $harness;
            admins_crud_and_unique_emails,
            admin_sessions_expire_and_go_with_their_admin,
            renaming_a_secret_is_atomic,
            client_secrets_rotate,
        );
        // Master-key rotation.
        $crate::conformance_tests!(@each $harness;
            sealed_values_are_counted_found_and_swapped,
            seal_counts_add_up_without_lost_increments,
        );
        // Running hooks.
        $crate::conformance_tests!(@each $harness;
            runnable_hooks_come_with_their_sealed_secrets,
            audit_events_are_recorded_in_batches,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let harness: Option<$crate::conformance::Harness> = $harness.await.into();
                let Some(harness) = harness else {
                    return;
                };
                $crate::conformance::$name(harness.store.clone()).await;
            }
        )*
    };
}
