# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
RUN Invoke-WebRequest -Uri https://example.org/app.zip -OutFile app.zip; `
    Expand-Archive app.zip -DestinationPath C:\app; `
    Remove-Item app.zip -Force
WORKDIR C:\app
CMD ["C:\\app\\server.exe"]
