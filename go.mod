module github.com/nextconv/nextconv

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/maruel/safetensors v1.2.0
	golang.org/x/sys v0.46.0
	gonum.org/v1/gonum v0.17.0
)

require github.com/edsrzf/mmap-go v1.2.0 // indirect
