module github.com/threadedselect/reactor

go 1.24.0

require (
	github.com/coder/websocket v1.8.15
	github.com/hajimehoshi/ebiten/v2 v2.8.8
	github.com/jezek/xgb v1.1.1
	github.com/mtibben/confusables v0.0.0-20210201002637-9d1b0723b659
	go.uber.org/goleak v1.3.0
	golang.org/x/image v0.31.0
	golang.org/x/sys v0.36.0
	golang.org/x/text v0.29.0
	pgregory.net/rapid v1.3.0
)

require (
	github.com/ebitengine/gomobile v0.0.0-20240911145611-4856209ac325 // indirect
	github.com/ebitengine/hideconsole v1.0.0 // indirect
	github.com/ebitengine/purego v0.8.0 // indirect
	github.com/go-text/typesetting v0.2.0 // indirect
	golang.org/x/sync v0.17.0 // indirect
)
