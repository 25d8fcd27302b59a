package renewal_test

import (
	"strconv"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

var leakOptions = e2eenv.Options{}

func itoa(n int) string { return strconv.Itoa(n) }
