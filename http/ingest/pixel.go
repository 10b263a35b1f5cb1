package ingest

import (
	_ "embed"
	"net/http"
	"strconv"
)

//go:embed p.js
var pixelJS []byte

// servePixel serves the pixel script. It is the same for every site (the
// site key is in the snippet), so browsers and CDNs may cache it.
func servePixel(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(pixelJS)))
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(pixelJS)
}

// transparentGIF is the smallest valid 1x1 transparent GIF (43 bytes).
var transparentGIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
}

func writeGIF(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(transparentGIF)
}
