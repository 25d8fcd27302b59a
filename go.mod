module github.com/silentauth/silentauth

go 1.26.8

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/hack-pad/safejs v0.1.0
)
