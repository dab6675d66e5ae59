# escape=`
FROM mcr.microsoft.com/dotnet/framework/sdk:4.8.1 AS build
WORKDIR /src
COPY . .
RUN msbuild /p:Configuration=Release

FROM mcr.microsoft.com/dotnet/framework/aspnet:4.8.1
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN Remove-Website -Name 'Default Web Site'; `
    New-Website -Name 'app' -Port 80 -PhysicalPath 'C:\app'
COPY --from=build /src/bin/Release/ /app
