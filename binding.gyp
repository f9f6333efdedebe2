# cairn's native addon (native/sys.c), built by node-gyp when npm installs the package.
# Linux only: elsewhere nothing is built and src/sys/native.ts reports the platform.
{
  "targets": [
    {
      "target_name": "cairn_sys",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/sys.c"],
          "defines": ["_GNU_SOURCE"],
          "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
