;; A hostile rule for the sandbox tests, written as a core module (Rust
;; cannot make a module with several memories) and wrapped into a component
;; by host/build.rs with the rule interface's WIT. Spreads 96 MiB over three memories of 32 MiB, each under the 64 MiB cap, together over it.
(module
  (memory (export "memory") 512)
  (memory $m1 512)
  (memory $m2 512)
  (global $heap (mut i32) (i32.const 4096))
  (data (memory 0) (i32.const 64) "hostile-split-memory")
  (data (memory 0) (i32.const 92) "0.1.0")
  (data (memory 0) (i32.const 105) "Spreads 96 MiB over three memories of 32 MiB, each under the 64 MiB cap, together over it")
  ;; A bump allocator for the host's lowering of the evidence.
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size 0) (i32.const 65536)))
      (then (drop (memory.grow 0 (i32.add (i32.div_u (local.get 3) (i32.const 65536)) (i32.const 1))))))
    (local.get $p))
  ;; describe: rule-info { name, version, summary: string; wants: flags }
  (func (export "autorepair:rules/rule@0.1.0#describe") (result i32)
    (i32.store (i32.const 1024) (i32.const 64))
    (i32.store (i32.const 1028) (i32.const 20))
    (i32.store (i32.const 1032) (i32.const 92))
    (i32.store (i32.const 1036) (i32.const 5))
    (i32.store (i32.const 1040) (i32.const 105))
    (i32.store (i32.const 1044) (i32.const 89))
    (i32.store8 (i32.const 1048) (i32.const 11))
    (i32.const 1024))
  ;; evaluate: ok(empty list of findings)
  (func (export "autorepair:rules/rule@0.1.0#evaluate") (param i32) (result i32)

    (i32.store8 (i32.const 2048) (i32.const 0))
    (i32.store (i32.const 2052) (i32.const 8))
    (i32.store (i32.const 2056) (i32.const 0))
    (i32.const 2048))
)
