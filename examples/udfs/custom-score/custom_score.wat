;; custom-score: a hand-written core module (ABI v1, docs/udf-abi.md).
;;
;;   score(doc)  = _score * boost                  (boost default 1.0)
;;   filter(doc) = _score * boost >= min_score     (min_score default 0.5)
;;
;; Parameters are read with get_param_f64; an absent (or non-numeric) parameter falls back
;; to its default here, so the module works with or without declared defaults.
(module
  (import "env" "get_score" (func $get_score (param i64) (result f64)))
  (import "env" "get_param_f64" (func $get_param_f64 (param i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Parameter names, and an 8-byte scratch slot at offset 64 for get_param_f64's result.
  (data (i32.const 0) "boost")       ;; 5 bytes at 0
  (data (i32.const 16) "min_score")  ;; 9 bytes at 16

  ;; The f64 parameter at (ptr, len), or `default` when the host answers anything but 0.
  (func $param_f64 (param $ptr i32) (param $len i32) (param $default f64) (result f64)
    (if (result f64)
      (i32.eqz (call $get_param_f64 (local.get $ptr) (local.get $len) (i32.const 64)))
      (then (f64.load (i32.const 64)))
      (else (local.get $default))))

  (func $boosted (param $ctx i64) (result f64)
    (f64.mul
      (call $get_score (local.get $ctx))
      (call $param_f64 (i32.const 0) (i32.const 5) (f64.const 1.0))))

  (func (export "score") (param $ctx i64) (result f64)
    (call $boosted (local.get $ctx)))

  (func (export "filter") (param $ctx i64) (result i32)
    (f64.ge
      (call $boosted (local.get $ctx))
      (call $param_f64 (i32.const 16) (i32.const 9) (f64.const 0.5))))
)
