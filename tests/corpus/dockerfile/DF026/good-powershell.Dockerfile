# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN Get-ChildItem C:\Windows\Temp | Remove-Item -Recurse -Force
WORKDIR C:\app

FROM mcr.microsoft.com/powershell:7.5-ubuntu-24.04
SHELL ["pwsh", "-Command"]
RUN Get-Module -ListAvailable | Select-Object -First 1
USER nobody
