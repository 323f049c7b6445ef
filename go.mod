module github.com/nextconv/nextconv

go 1.26
