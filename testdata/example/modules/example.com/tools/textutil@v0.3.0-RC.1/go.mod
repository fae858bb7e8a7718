module example.com/tools/textutil

go 1.21
