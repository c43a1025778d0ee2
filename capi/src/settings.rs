//! Setters and getters of HP's configuration knobs, generated per component family from one
//! description per knob: what it changes in shardnet's `TcpConfig` / `PackConfig`, or (for
//! HP's object-pool and IOCP-era knobs shardnet has no use for) the value kept for the getter.

/// `settings!(lookup, Handle: kind(SetName, GetName); …)` exports each pair under HP's names;
/// `lookup(p)` turns the C pointer into the handle.
macro_rules! settings {
    ($get:ident: $($kind:ident($set:ident, $read:ident);)*) => {
        $( $crate::settings::settings!(@ $kind $get $set $read); )*
    };
    (@reuse $get:ident $set:ident $read:ident) => {
        /// SO_REUSEADDR / SO_REUSEPORT policy (`En_HP_ReuseAddressPolicy`).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: std::ffi::c_int) {
            use shardnet_components::ReuseAddress as R;
            if let Some(h) = $get(p) {
                h.cfg().reuse_address = match v {
                    rap::RAP_NONE => R::None,
                    rap::RAP_ADDR_AND_PORT => R::AddrAndPort,
                    _ => R::Addr,
                };
            }
        }
        /// The reuse-address policy.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> std::ffi::c_int {
            use shardnet_components::ReuseAddress as R;
            $get(p).map_or(rap::RAP_ADDR_ONLY, |h| match h.cfg().reuse_address {
                R::None => rap::RAP_NONE,
                R::Addr => rap::RAP_ADDR_ONLY,
                R::AddrAndPort => rap::RAP_ADDR_AND_PORT,
            })
        }
    };
    (@send_policy $get:ident $set:ident $read:ident) => {
        /// Send policy: SP_PACK and SP_SAFE coalesce queued buffers into one write, SP_DIRECT
        /// writes each (`En_HP_SendPolicy`).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: std::ffi::c_int) {
            if let Some(h) = $get(p) {
                h.knobs().send_policy = v;
                h.cfg().send_policy = if v == sp::SP_DIRECT {
                    shardnet_shard::SendPolicy::Direct
                } else {
                    shardnet_shard::SendPolicy::Pack
                };
            }
        }
        /// The send policy as set.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> std::ffi::c_int {
            $get(p).map_or(sp::SP_PACK, |h| h.knobs().send_policy)
        }
    };
    (@knob_on_send_sync $get:ident $set:ident $read:ident) => {
        /// Kept for the getter: shardnet calls OnSend on the connection's shard thread.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: std::ffi::c_int) {
            if let Some(h) = $get(p) {
                h.knobs().on_send_sync = v;
            }
        }
        /// What the setter kept.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> std::ffi::c_int {
            $get(p).map_or(0, |h| h.knobs().on_send_sync)
        }
    };
    (@knob_lock_time $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_socket_lock_time $get $set $read);
    };
    (@knob_socket_pool $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_socket_pool $get $set $read);
    };
    (@knob_buffer_pool $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_buffer_pool $get $set $read);
    };
    (@knob_socket_hold $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_socket_hold $get $set $read);
    };
    (@knob_buffer_hold $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_buffer_hold $get $set $read);
    };
    (@knob_client_pool_size $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_buffer_pool_size $get $set $read);
    };
    (@knob_client_pool_hold $get:ident $set:ident $read:ident) => {
        $crate::settings::settings!(@knob free_buffer_pool_hold $get $set $read);
    };
    (@knob $field:ident $get:ident $set:ident $read:ident) => {
        /// Kept for the getter: shardnet's pools are per shard and sized by its own rules.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.knobs().$field = v;
            }
        }
        /// What the setter kept.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.knobs().$field)
        }
    };
    (@max_connections $get:ident $set:ident $read:ident) => {
        /// Most connections at once (HP's default 10,000).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.cfg().max_connections = v as usize;
            }
        }
        /// The connection limit.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.cfg().max_connections.min(u32::MAX as usize) as DWORD)
        }
    };
    (@workers $get:ident $set:ident $read:ident) => {
        /// Worker threads = shards, one pinned per core (0: one per CPU).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.cfg().shards = (v > 0).then_some(v as usize);
            }
        }
        /// The shard count a start uses.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| {
                h.cfg().shards.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                }) as DWORD
            })
        }
    };
    (@mark_silence $get:ident $set:ident $read:ident) => {
        /// Kept for the getter: shardnet always records the last receive time.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: BOOL) {
            if let Some(h) = $get(p) {
                h.knobs().mark_silence = v != 0;
            }
        }
        /// What the setter kept.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> BOOL {
            b($get(p).is_some_and(|h| h.knobs().mark_silence))
        }
    };
    (@buffer_size $get:ident $set:ident $read:ident) => {
        /// The receive buffer size (HP's default 4096).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.cfg().socket_buffer_size = v as usize;
            }
        }
        /// The receive buffer size.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.cfg().socket_buffer_size as DWORD)
        }
    };
    (@keepalive_time $get:ident $set:ident $read:ident) => {
        /// TCP keepalive idle time in ms (0: keepalive off).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.cfg().keepalive_time = std::time::Duration::from_millis(v as u64);
            }
        }
        /// The keepalive idle time in ms.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.cfg().keepalive_time.as_millis() as DWORD)
        }
    };
    (@keepalive_interval $get:ident $set:ident $read:ident) => {
        /// TCP keepalive probe interval in ms.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.cfg().keepalive_interval = std::time::Duration::from_millis(v as u64);
            }
        }
        /// The keepalive probe interval in ms.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.cfg().keepalive_interval.as_millis() as DWORD)
        }
    };
    (@no_delay $get:ident $set:ident $read:ident) => {
        /// TCP_NODELAY.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: BOOL) {
            if let Some(h) = $get(p) {
                h.cfg().no_delay = v != 0;
            }
        }
        /// TCP_NODELAY.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> BOOL {
            b($get(p).is_some_and(|h| h.cfg().no_delay))
        }
    };
    (@max_pack $get:ident $set:ident $read:ident) => {
        /// Pack: the largest message (HP's default 4 MiB; at most 0x3FFFFF).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            if let Some(h) = $get(p) {
                h.pack_cfg().max_pack_size = v;
            }
        }
        /// Pack: the largest message.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> DWORD {
            $get(p).map_or(0, |h| h.pack_cfg().max_pack_size)
        }
    };
    (@pack_flag $get:ident $set:ident $read:ident) => {
        /// Pack: the header flag (0..=0x3FF), checked on every message.
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: USHORT) {
            if let Some(h) = $get(p) {
                h.pack_cfg().flag = v;
            }
        }
        /// Pack: the header flag.
        #[no_mangle]
        pub extern "C" fn $read(p: PVOID) -> USHORT {
            $get(p).map_or(0, |h| h.pack_cfg().flag)
        }
    };
}
pub(crate) use settings;
